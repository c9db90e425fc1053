using System.Formats.Tar;
using System.Globalization;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;

namespace Platform.Runner.Executors;

/// <summary>
/// Runs the job in a container of the agent's image through the Docker Engine API: the agent's command (argv, the
/// program first) replaces the image's entrypoint, or the image runs as built when the agent has none. The container
/// sees only the agent's <c>env</c> and the <c>PLATFORM_*</c> variables. <c>PLATFORM_OUTPUTS</c> names a file in a
/// directory copied into the container before it starts and read back out after it ends, so the runner and the engine
/// need not share a file system (a runner in a container talking to the host's engine works too). Stdout and stderr
/// are followed as the job writes them. Stopping the job stops the container (SIGTERM, then SIGKILL after
/// <see cref="DockerExecutorOptions.StopTimeout"/>); the container is removed in every case.
/// </summary>
public sealed class DockerExecutor : IJobExecutor, IDisposable
{
    /// <summary>Where the job's outputs file lives inside the container.</summary>
    public const string PlatformDirectory = "/platform";

    public const string OutputsPath = PlatformDirectory + "/outputs";

    /// <summary>Labels every job container carries (to find a job's container, and leftovers of a crashed runner).</summary>
    public const string JobIdLabel = "io.platform.job-id";

    public const string ExecutionIdLabel = "io.platform.execution-id";
    public const string StepLabel = "io.platform.step";
    public const string AttemptLabel = "io.platform.job-attempt";

    /// <summary>The name of the runner that started the container: a runner starting again under its name removes the
    /// containers it left behind when it was killed (their jobs were requeued when it registered again).</summary>
    public const string RunnerLabel = "io.platform.runner";

    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(5);

    private readonly DockerExecutorOptions options;
    private readonly ILogger<DockerExecutor> logger;
    private readonly DockerClient client;
    private readonly string runnerName;
    private readonly Lazy<Task> leftoversRemoved;

    public DockerExecutor(RunnerOptions options, ILogger<DockerExecutor> logger)
    {
        this.options = options.Docker;
        this.logger = logger;
        runnerName = options.Name;
        leftoversRemoved = new Lazy<Task>(RemoveLeftoversAsync);
        var builder = new DockerClientBuilder().WithApiVersion(System.Version.Parse(this.options.ApiVersion));
        if (!string.IsNullOrWhiteSpace(this.options.Endpoint))
        {
            builder = builder.WithEndpoint(new Uri(this.options.Endpoint));
        }

        client = builder.Build();
    }

    public void Dispose() => client.Dispose();

    public async Task<JobRunResult> RunAsync(RunnerJob job, IJobLogSink log, CancellationToken stop)
    {
        if (string.IsNullOrWhiteSpace(job.Image))
        {
            return JobRunResult.NotStarted("the job has no image: the docker executor runs the agent's image");
        }

        await leftoversRemoved.Value;
        if (await EnsureImageAsync(job.Image, stop) is { } imageError)
        {
            return JobRunResult.NotStarted(imageError);
        }

        string containerId;
        try
        {
            containerId = (await client.Containers.CreateContainerAsync(CreateParameters(job), stop)).ID;
        }
        catch (DockerApiException ex)
        {
            return JobRunResult.NotStarted($"cannot create a container of '{job.Image}': {Message(ex)}");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return new JobRunResult(RunnerAgent.NotRunExitCode, new Dictionary<string, string>(), JobRunResult.StoppedError, "");
        }

        logger.LogDebug("Job {JobId} attempt {Attempt} runs in container {Container}", job.JobId, job.Attempt, containerId[..12]);
        try
        {
            return await RunContainerAsync(job, containerId, log, stop);
        }
        finally
        {
            await RemoveAsync(containerId, job);
        }
    }

    private async Task<JobRunResult> RunContainerAsync(RunnerJob job, string containerId, IJobLogSink log, CancellationToken stop)
    {
        await using (var platformDirectory = PlatformDirectoryArchive())
        {
            await client.Containers.ExtractArchiveToContainerAsync(containerId,
                new CopyToContainerParameters { Path = "/" }, platformDirectory, CancellationToken.None);
        }

        try
        {
            await client.Containers.StartContainerAsync(containerId, new ContainerStartParameters(), CancellationToken.None);
        }
        catch (DockerApiException ex)
        {
            return JobRunResult.NotStarted($"cannot start the container of '{job.Image}': {Message(ex)}");
        }

        var tail = new OutputTailBuffer();
        using var stopFollowing = new CancellationTokenSource();
        var pump = FollowLogsAsync(containerId, tail, log, stopFollowing.Token);

        var error = "";
        long exitCode;
        try
        {
            exitCode = (await client.Containers.WaitContainerAsync(containerId, stop)).StatusCode;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            error = JobRunResult.StoppedError;
            await StopContainerAsync(containerId, job);
            try
            {
                // Bounded: an engine that fails to stop the container must not hold the job forever (it is removed
                // with force below).
                exitCode = (await client.Containers.WaitContainerAsync(containerId, CancellationToken.None)
                    .WaitAsync(options.StopTimeout + CleanupTimeout)).StatusCode;
            }
            catch (TimeoutException)
            {
                exitCode = RunnerAgent.NotRunExitCode;
            }
        }

        try
        {
            await pump.WaitAsync(OutputDrainTimeout);
        }
        catch (TimeoutException)
        {
            logger.LogDebug("The log of job {JobId}'s container was still open after it exited; not waiting for it", job.JobId);
            await stopFollowing.CancelAsync();
        }

        var outputs = await ReadOutputsAsync(containerId, job);
        return new JobRunResult((int)exitCode, outputs, error, tail.ToString());
    }

    /// <summary>Present after this, or why not (a pull that failed, or a missing image with pull policy never).</summary>
    private async Task<string?> EnsureImageAsync(string image, CancellationToken stop)
    {
        if (options.PullPolicy != ImagePullPolicy.Always)
        {
            try
            {
                await client.Images.InspectImageAsync(image, stop);
                return null;
            }
            catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                if (options.PullPolicy == ImagePullPolicy.Never)
                {
                    return $"image '{image}' is not present on the Docker engine and the pull policy is 'never'";
                }
            }
        }

        var (name, tag) = SplitReference(image);
        var failure = (string?)null;
        try
        {
            await client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = name, Tag = tag }, null,
                new Progress<JSONMessage>(m =>
                {
                    if (!string.IsNullOrEmpty(m.Error?.Message))
                    {
                        failure = m.Error.Message;
                    }
                }), stop);
        }
        catch (DockerApiException ex)
        {
            return $"cannot pull image '{image}': {Message(ex)}";
        }

        return failure is null ? null : $"cannot pull image '{image}': {failure}";
    }

    private CreateContainerParameters CreateParameters(RunnerJob job)
    {
        var env = job.Env.Select(e => $"{e.Key}={e.Value}").Concat(JobEnvironment.Platform(job, OutputsPath)
            .Select(e => $"{e.Key}={e.Value}")).ToList();
        var parameters = new CreateContainerParameters
        {
            Image = job.Image,
            Name = $"platform-job-{job.JobId:N}-{job.Attempt}",
            Env = env,
            Labels = new Dictionary<string, string>
            {
                [JobIdLabel] = job.JobId.ToString(),
                [ExecutionIdLabel] = job.ExecutionId.ToString(),
                [StepLabel] = job.StepName,
                [AttemptLabel] = job.Attempt.ToString(CultureInfo.InvariantCulture),
                [RunnerLabel] = runnerName,
            },
            AttachStdout = true,
            AttachStderr = true,
            HostConfig = new HostConfig
            {
                NetworkMode = options.Network ?? "",
                Memory = Quantities.Bytes(job.Resources.MemoryLimit) ?? 0,
                NanoCPUs = Quantities.NanoCpus(job.Resources.CpuLimit) ?? 0,
            },
        };
        if (job.Command.Count > 0)
        {
            parameters.Entrypoint = [job.Command[0]];
            parameters.Cmd = job.Command.Skip(1).ToList();
        }

        return parameters;
    }

    /// <summary>A tar of <c>/platform/outputs</c>, empty, writable by any user the image runs as.</summary>
    private static MemoryStream PlatformDirectoryArchive()
    {
        var archive = new MemoryStream();
        using (var writer = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
        {
            var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
                       | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, PlatformDirectory.TrimStart('/') + "/")
            {
                Mode = mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute,
            });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, OutputsPath.TrimStart('/')) { Mode = mode });
        }

        archive.Position = 0;
        return archive;
    }

    private async Task FollowLogsAsync(string containerId, OutputTailBuffer tail, IJobLogSink log, CancellationToken stop)
    {
        var stdout = new OutputLineSplitter(JobOutputStream.Stdout, log);
        var stderr = new OutputLineSplitter(JobOutputStream.Stderr, log);
        try
        {
            using var stream = await client.Containers.GetContainerLogsAsync(containerId,
                new ContainerLogsParameters { Follow = true, ShowStdout = true, ShowStderr = true }, stop);
            var buffer = new byte[16 * 1024];
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, stop);
                if (read.EOF)
                {
                    break;
                }

                var bytes = buffer.AsSpan(0, read.Count);
                tail.Append(bytes);
                (read.Target == MultiplexedStream.TargetStream.StandardError ? stderr : stdout).Append(bytes);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or DockerApiException)
        {
            // The container is gone, or we stopped following it.
        }
        finally
        {
            stdout.Complete();
            stderr.Complete();
        }
    }

    private async Task StopContainerAsync(string containerId, RunnerJob job)
    {
        try
        {
            await client.Containers.StopContainerAsync(containerId,
                new ContainerStopParameters { WaitBeforeKillSeconds = (uint)options.StopTimeout.TotalSeconds },
                CancellationToken.None);
        }
        catch (DockerApiException ex)
        {
            logger.LogWarning("Stopping the container of job {JobId} failed: {Reason}", job.JobId, Message(ex));
        }
    }

    private async Task<IReadOnlyDictionary<string, string>> ReadOutputsAsync(string containerId, RunnerJob job)
    {
        try
        {
            var archive = await client.Containers.GetArchiveFromContainerAsync(containerId,
                new ContainerPathStatParameters { Path = OutputsPath }, false, CancellationToken.None);
            await using var stream = archive.Stream ?? Stream.Null;
            await using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync() is { } entry)
            {
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
                {
                    var buffer = new byte[(int)Math.Min(entry.Length, OutputsFile.MaxBytes)];
                    await data.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
                    return OutputsFile.Parse(System.Text.Encoding.UTF8.GetString(buffer));
                }
            }
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            // The job removed its outputs file: it has no outputs.
        }
        catch (Exception ex) when (ex is DockerApiException or IOException or InvalidDataException)
        {
            logger.LogWarning("Could not read the outputs of job {JobId} from its container: {Reason}", job.JobId, ex.Message);
        }

        return new Dictionary<string, string>();
    }

    private async Task RemoveAsync(string containerId, RunnerJob job)
    {
        try
        {
            using var timeout = new CancellationTokenSource(CleanupTimeout);
            await client.Containers.RemoveContainerAsync(containerId, new ContainerRemoveParameters { Force = true },
                timeout.Token);
        }
        catch (Exception ex) when (ex is DockerApiException or OperationCanceledException)
        {
            logger.LogWarning("Could not remove the container of job {JobId}: {Reason}", job.JobId, ex.Message);
        }
    }

    /// <summary>Before its first job: the containers an earlier run of this runner left (it was killed mid-job).</summary>
    private async Task RemoveLeftoversAsync()
    {
        try
        {
            var leftovers = await client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = new Dictionary<string, bool> { [$"{RunnerLabel}={runnerName}"] = true },
                },
            });
            foreach (var leftover in leftovers)
            {
                logger.LogWarning("Removing container {Container} of job {JobId}, left by an earlier run of this runner",
                    leftover.ID[..12], leftover.Labels.TryGetValue(JobIdLabel, out var jobId) ? jobId : "?");
                await client.Containers.RemoveContainerAsync(leftover.ID, new ContainerRemoveParameters { Force = true });
            }
        }
        catch (Exception ex) when (ex is DockerApiException or HttpRequestException or IOException)
        {
            logger.LogWarning("Could not look for containers left by an earlier run of this runner: {Reason}", ex.Message);
        }
    }

    /// <summary>"repo/name:tag" → ("repo/name", "tag"); a digest or no tag keeps the reference whole.</summary>
    private static (string Name, string? Tag) SplitReference(string image)
    {
        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') && !image.Contains('@', StringComparison.Ordinal)
            ? (image[..colon], image[(colon + 1)..])
            : (image, image.Contains('@', StringComparison.Ordinal) ? null : "latest");
    }

    private static string Message(DockerApiException ex) =>
        string.IsNullOrWhiteSpace(ex.ResponseBody) ? ex.Message : ex.ResponseBody.Trim();
}
