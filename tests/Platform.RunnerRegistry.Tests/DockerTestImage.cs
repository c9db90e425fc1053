using System.Formats.Tar;
using Docker.DotNet;
using Docker.DotNet.Models;
using Platform.Runner;
using Platform.Runner.Executors;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// The image the Docker tests run, built on the local engine (no registry is reachable here): a busybox root file
/// system imported as <see cref="Name"/>, as <c>docker import</c> does. Needs a running engine and a static busybox
/// (tests/run-all.sh installs docker.io and busybox-static and starts dockerd).
/// </summary>
public static class DockerTestImage
{
    public const string Name = "platform-test/busybox:1";

    private static readonly string[] Applets =
        ["sh", "echo", "cat", "sleep", "env", "true", "false", "ls", "printf", "test", "trap", "kill"];

    private static readonly Lazy<Task> Built = new(BuildAsync);

    public static Task EnsureBuiltAsync() => Built.Value;

    public static DockerClient Client() =>
        new DockerClientBuilder().WithApiVersion(System.Version.Parse(DockerExecutorOptions.DefaultApiVersion)).Build();

    /// <summary>The containers (running or not) of a job, by the label the executor puts on them.</summary>
    public static async Task<IList<ContainerListResponse>> ContainersOfJobAsync(Guid jobId)
    {
        using var client = Client();
        return await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{DockerExecutor.JobIdLabel}={jobId}"] = true },
            },
        });
    }

    private static async Task BuildAsync()
    {
        var busybox = new[] { "/bin/busybox", "/usr/bin/busybox" }.FirstOrDefault(File.Exists)
                      ?? throw new InvalidOperationException("no static busybox: apt-get install -y busybox-static");
        var rootfs = new MemoryStream();
        using (var tar = new TarWriter(rootfs, TarEntryFormat.Pax, leaveOpen: true))
        {
            const UnixFileMode directory = (UnixFileMode)0b111_101_101;
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "bin/") { Mode = directory });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "tmp/") { Mode = (UnixFileMode)0b1_111_111_111 });
            await tar.WriteEntryAsync(busybox, "bin/busybox");
            foreach (var applet in Applets)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"bin/{applet}") { LinkName = "busybox" });
            }
        }

        rootfs.Position = 0;
        var (repository, tag) = (Name[..Name.IndexOf(':')], Name[(Name.IndexOf(':') + 1)..]);
        using var client = Client();
        await client.Images.CreateImageAsync(new ImagesCreateParameters
        {
            FromSrc = "-",
            Repo = repository,
            Tag = tag,
            Changes = ["ENV PATH=/bin"],
        }, rootfs, null, new Progress<JSONMessage>());
    }
}
