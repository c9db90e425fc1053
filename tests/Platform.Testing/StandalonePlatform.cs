using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Platform.Testing;

/// <summary>
/// The Standalone host as a user runs it (every context and an embedded process runner in one process, in-memory
/// bus) on its own database and free ports, driven over REST.
/// </summary>
public sealed class StandalonePlatform : IAsyncDisposable
{
    private readonly Dictionary<string, string> environment;
    private ServiceProcess process;

    private StandalonePlatform(Dictionary<string, string> environment, ServiceProcess process, int restPort, int grpcPort, string connectionString)
    {
        this.environment = environment;
        this.process = process;
        RestUrl = $"http://127.0.0.1:{restPort}";
        GrpcUrl = $"http://127.0.0.1:{grpcPort}";
        ConnectionString = connectionString;
        Http = new HttpClient { BaseAddress = new Uri(RestUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string RestUrl { get; }
    public string GrpcUrl { get; }
    public string ConnectionString { get; }
    public HttpClient Http { get; }
    public string Output => process.Output;

    /// <summary>The host's process id while it runs.</summary>
    public int? ProcessId => process.Id;

    public static async Task<StandalonePlatform> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        var connectionString = await TestDatabase.CreateAsync("standalone");
        var restPort = Ports.Free();
        var grpcPort = Ports.Free();
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Platform"] = connectionString,
            ["Kestrel__Endpoints__Rest__Url"] = $"http://127.0.0.1:{restPort}",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var process = ServiceProcess.Start("services/Standalone/Platform.Standalone", "Platform.Standalone", environment);
        var platform = new StandalonePlatform(environment, process, restPort, grpcPort, connectionString);
        await platform.WaitReadyAsync();
        return platform;
    }

    /// <summary>SIGKILL, then the same command again on the same database and ports.</summary>
    public async Task KillAndRestartAsync()
    {
        await process.KillAsync();
        await process.DisposeAsync();
        process = ServiceProcess.Start("services/Standalone/Platform.Standalone", "Platform.Standalone", environment);
        await WaitReadyAsync();
    }

    public async Task KillAsync() => await process.KillAsync();

    /// <summary>The same command again after <see cref="KillAsync"/>: a downtime as long as the caller waited.</summary>
    public async Task StartAgainAsync()
    {
        await process.DisposeAsync();
        process = ServiceProcess.Start("services/Standalone/Platform.Standalone", "Platform.Standalone", environment);
        await WaitReadyAsync();
    }

    private async Task WaitReadyAsync()
    {
        await process.WaitHealthyAsync(RestUrl + "/healthz", TimeSpan.FromSeconds(60));
    }

    public async Task<JsonObject> PostAsync(string path, object body, int expectedStatus = 200)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        return await ReadAsync(response, expectedStatus, $"POST {path}");
    }

    public async Task<JsonObject> PutAsync(string path, object body, int expectedStatus = 200)
    {
        using var response = await Http.PutAsJsonAsync(path, body);
        return await ReadAsync(response, expectedStatus, $"PUT {path}");
    }

    public async Task<JsonObject> GetAsync(string path, int expectedStatus = 200)
    {
        using var response = await Http.GetAsync(path);
        return await ReadAsync(response, expectedStatus, $"GET {path}");
    }

    public async Task<JsonObject> DeleteAsync(string path, int expectedStatus = 200)
    {
        using var response = await Http.DeleteAsync(path);
        return await ReadAsync(response, expectedStatus, $"DELETE {path}");
    }

    public async Task<string> CreateAgentAsync(string name, string[] command, string[]? labels = null)
    {
        var agent = await PostAsync("/api/v1/agents", new { name, command, runner_labels = labels ?? [] });
        return (string)agent["id"]!;
    }

    /// <summary>Waits until the execution reaches a terminal status and returns it.</summary>
    public async Task<JsonObject> WaitForExecutionAsync(string executionId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonObject execution;
        do
        {
            execution = await GetAsync($"/api/v1/executions/{executionId}");
            var status = (string?)execution["status"];
            if (status is "EXECUTION_STATUS_SUCCEEDED" or "EXECUTION_STATUS_FAILED" or "EXECUTION_STATUS_CANCELLED")
            {
                return execution;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"execution {executionId} did not finish within {timeout}: {execution}\n--- platform output ---\n{Output}");
    }

    public async Task<JsonObject> WaitForStepStatusAsync(string executionId, string step, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonObject execution;
        do
        {
            execution = await GetAsync($"/api/v1/executions/{executionId}");
            if (Step(execution, step)["status"]?.GetValue<string>() == status)
            {
                return execution;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"step {step} of {executionId} did not reach {status} within {timeout}: {execution}");
    }

    public static JsonObject Step(JsonObject execution, string name) =>
        execution["steps"]!.AsArray().Single(s => (string?)s!["name"] == name)!.AsObject();

    private async Task<JsonObject> ReadAsync(HttpResponseMessage response, int expectedStatus, string what)
    {
        var text = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != expectedStatus)
        {
            throw new HttpRequestException(
                $"{what}: expected HTTP {expectedStatus}, got {(int)response.StatusCode}: {text}");
        }

        return string.IsNullOrWhiteSpace(text) ? new JsonObject() : JsonNode.Parse(text)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await process.DisposeAsync();
        await TestDatabase.DropAsync(ConnectionString);
    }
}
