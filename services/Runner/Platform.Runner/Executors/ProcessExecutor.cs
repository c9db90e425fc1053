using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Platform.Runner.Executors;

/// <summary>
/// Runs the job's command as a child process — argv as given, no shell — in a fresh directory. The job sees only
/// its agent's <c>env</c>, the <c>PLATFORM_*</c> variables and an allow-list of the runner's own environment
/// (<see cref="RunnerOptions.InheritedEnvironment"/>). Stopping the job kills its whole process tree. The directory is
/// removed once the job has ended.
/// </summary>
public sealed class ProcessExecutor(RunnerOptions options, ILogger<ProcessExecutor> logger) : IJobExecutor
{
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(30);

    public Task<JobRunResult> RunAsync(RunnerJob job, CancellationToken stop) => RunAsync(job, NullJobLogSink.Instance, stop);

    public async Task<JobRunResult> RunAsync(RunnerJob job, IJobLogSink log, CancellationToken stop)
    {
        if (job.Command.Count == 0 || string.IsNullOrWhiteSpace(job.Command[0]))
        {
            return JobRunResult.NotStarted("the job has no command to run: the process executor runs the agent's command");
        }

        var workspace = Path.Combine(options.EffectiveWorkDirectory, $"{job.JobId:N}-{job.Attempt}");
        Directory.CreateDirectory(workspace);
        try
        {
            var outputsPath = Path.Combine(workspace, "platform-outputs");
            // An empty file, written synchronously: the asynchronous write hopped threads on every step's path.
            File.WriteAllBytes(outputsPath, []);
            using var process = new Process { StartInfo = StartInfo(job, workspace, outputsPath) };
            try
            {
                process.Start();
            }
            catch (Win32Exception ex)
            {
                return JobRunResult.NotStarted($"cannot start '{job.Command[0]}': {ex.Message}");
            }

            logger.LogDebug("Job {JobId} attempt {Attempt} started process {Pid}", job.JobId, job.Attempt, process.Id);
            process.StandardInput.Close();
            var tail = new OutputTailBuffer();
            var pumps = Task.WhenAll(
                PumpAsync(process.StandardOutput.BaseStream, tail, new OutputLineSplitter(JobOutputStream.Stdout, log)),
                PumpAsync(process.StandardError.BaseStream, tail, new OutputLineSplitter(JobOutputStream.Stderr, log)));

            var error = "";
            try
            {
                await process.WaitForExitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                error = JobRunResult.StoppedError;
                KillTree(process, job);
                try
                {
                    await process.WaitForExitAsync(CancellationToken.None).WaitAsync(KillTimeout);
                }
                catch (TimeoutException)
                {
                    logger.LogError("Process {Pid} of job {JobId} did not exit after being killed", process.Id, job.JobId);
                }
            }

            try
            {
                // A background process that inherited the pipes can keep them open after the job's process exited.
                await pumps.WaitAsync(OutputDrainTimeout);
            }
            catch (TimeoutException)
            {
                logger.LogDebug("Output of job {JobId} still open after its process exited; not waiting for it", job.JobId);
            }

            var exitCode = process.HasExited ? process.ExitCode : -1;
            var outputs = await OutputsFile.ReadAsync(outputsPath);
            return new JobRunResult(exitCode, outputs, error, tail.ToString());
        }
        finally
        {
            // Off the job's path: its end is reported (and the runner's next job started) while the directory goes.
            _ = Task.Run(() => TryDelete(workspace));
        }
    }

    private ProcessStartInfo StartInfo(RunnerJob job, string workspace, string outputsPath)
    {
        var startInfo = new ProcessStartInfo(job.Command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workspace,
        };
        foreach (var argument in job.Command.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        var environment = startInfo.Environment;
        environment.Clear();
        foreach (var name in options.InheritedEnvironment)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                environment[name] = value;
            }
        }

        foreach (var (name, value) in job.Env)
        {
            environment[name] = value;
        }

        foreach (var (name, value) in JobEnvironment.Platform(job, outputsPath))
        {
            environment[name] = value;
        }

        return startInfo;
    }

    private static async Task PumpAsync(Stream stream, OutputTailBuffer tail, OutputLineSplitter lines)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                tail.Append(buffer.AsSpan(0, read));
                lines.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The process is gone and its pipe with it.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            lines.Complete();
        }
    }

    private void KillTree(Process process, RunnerJob job)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited in the meantime.
        }
        catch (Win32Exception ex)
        {
            logger.LogWarning(ex, "Could not kill every process of job {JobId}", job.JobId);
        }
    }

    private void TryDelete(string workspace)
    {
        try
        {
            Directory.Delete(workspace, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogDebug(ex, "Could not delete the job directory {Directory}", workspace);
        }
    }
}
