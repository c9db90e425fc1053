using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Platform.Testing;

/// <summary>
/// One of the platform's programs running as a real OS process, as a user runs it: started from its built dll with
/// configuration in environment variables, its output kept for the failure message, killable with SIGKILL.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly string name;
    private readonly string dll;
    private readonly IReadOnlyDictionary<string, string> environment;
    private readonly StringBuilder output = new();
    private Process? process;

    private ServiceProcess(string name, string dll, IReadOnlyDictionary<string, string> environment)
    {
        this.name = name;
        this.dll = dll;
        this.environment = environment;
    }

    public int? ExitCode => process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>The running process's id (null once it exited).</summary>
    public int? Id => process is { HasExited: false } p ? p.Id : null;

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    public static ServiceProcess Start(string project, string assembly, IReadOnlyDictionary<string, string> environment)
    {
        var service = new ServiceProcess(assembly, Paths.Dll(project, assembly), environment);
        service.Launch();
        return service;
    }

    public void Launch()
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        info.ArgumentList.Add(dll);
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Logging__LogLevel__Platform"] = "Information";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>kill -9 of the process alone: children it started (job processes) are orphaned, not killed.</summary>
    public async Task KillAsync()
    {
        if (process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: false);
            await p.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as a service manager stops a process.</summary>
    public void Terminate()
    {
        if (process is { HasExited: false } p)
        {
            using var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process!.WaitForExitAsync(cts.Token);
        return process.ExitCode;
    }

    public async Task WaitHealthyAsync(string healthUrl, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process!.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with {process.ExitCode} before it was healthy:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync(healthUrl);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{name} was not healthy at {healthUrl} within {timeout}:\n{Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }

        process?.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            // Keep the tail: enough to explain a failure, bounded for long runs.
            if (output.Length > 200_000)
            {
                output.Remove(0, 100_000);
            }

            output.AppendLine(line);
        }
    }
}

public static class Paths
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The built dll of a project, in the configuration the tests themselves were built in.</summary>
    public static string Dll(string project, string assembly)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}",
            StringComparison.Ordinal) ? "Release" : "Debug";
        var path = Path.Combine(RepositoryRoot, project, "bin", configuration, "net10.0", assembly + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"build {project} first", path);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Platform.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Platform.sln not found above the test directory");
    }
}

public static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
