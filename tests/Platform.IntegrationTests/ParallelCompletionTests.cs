using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>
/// Parallel steps of one execution ending together on one runner: in the Standalone host each end is applied in
/// process by a decision that may lease that runner its next job, so the decisions contend for the execution and for
/// the runner at once. Every one must go through in process — no deadlock between them, no fall-back to the relay.
/// </summary>
public sealed class ParallelCompletionTests : IAsyncLifetime
{
    private StandalonePlatform platform = null!;

    public async Task InitializeAsync() =>
        platform = await StandalonePlatform.StartAsync(new Dictionary<string, string> { ["EmbeddedRunner__Capacity"] = "4" });

    public async Task DisposeAsync() => await platform.DisposeAsync();

    [Fact]
    public async Task Parallel_steps_ending_together_on_one_runner_are_each_applied_in_process()
    {
        var agent = (string)(await platform.PostAsync("/api/v1/agents", new { name = "quick", command = new[] { "true" } }))["id"]!;
        var steps = new List<object> { new { name = "start", agent_id = agent } };
        steps.AddRange(Enumerable.Range(1, 4).Select(i => new { name = $"branch-{i}", agent_id = agent, requires = new[] { "start" } }));
        steps.Add(new { name = "join", agent_id = agent, requires = Enumerable.Range(1, 4).Select(i => $"branch-{i}").ToArray() });
        steps.AddRange(Enumerable.Range(1, 4).Select(i => new { name = $"again-{i}", agent_id = agent, requires = new[] { "join" } }));
        var workflow = (string)(await platform.PostAsync("/api/v1/workflows", new { name = "Fan out twice", steps }))["id"]!;

        var ids = new List<string>();
        for (var i = 0; i < 15; i++)
        {
            ids.Add((string)(await platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { }))["id"]!);
        }

        foreach (var id in ids)
        {
            var execution = await platform.WaitForExecutionAsync(id, TimeSpan.FromSeconds(60));
            Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        }

        Assert.DoesNotContain("deadlock", platform.Output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("in process failed", platform.Output, StringComparison.Ordinal);
    }
}
