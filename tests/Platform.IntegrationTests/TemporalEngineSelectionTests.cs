using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>
/// <c>Execution:Engine=temporal</c> selected on the Standalone host, with no Temporal server to reach (none can run on
/// these machines; tests/Platform.Execution.Temporal.IntegrationTests runs the engine against a real one): the host
/// serves, a start is refused as Unavailable naming the server, and it leaves nothing behind.
/// </summary>
public sealed class TemporalEngineSelectionTests
{
    [Fact]
    public async Task With_the_Temporal_engine_and_no_server_the_platform_serves_and_a_start_is_unavailable_and_writes_nothing()
    {
        var nowhere = $"127.0.0.1:{Ports.Free()}";
        await using var platform = await StandalonePlatform.StartAsync(new Dictionary<string, string>
        {
            ["Execution__Engine"] = "temporal",
            ["Temporal__Address"] = nowhere,
        });
        var agent = (string)(await platform.PostAsync("/api/v1/agents", new { name = "ok", command = new[] { "true" } }))["id"]!;
        var workflow = (string)(await platform.PostAsync("/api/v1/workflows", new { name = "On Temporal", steps = new[] { new { name = "a", agent_id = agent } } }))["id"]!;

        using var response = await platform.Http.PostAsync($"/api/v1/workflows/{workflow}/start",
            new StringContent("""{"input":{},"idempotency_key":"k-1"}""", System.Text.Encoding.UTF8, "application/json"));

        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains(nowhere, (string?)body["message"], StringComparison.Ordinal);
        var executions = await platform.GetAsync($"/api/v1/executions?workflow_id={workflow}");
        Assert.Empty(executions["executions"]?.AsArray() ?? []);
        using var health = await platform.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
