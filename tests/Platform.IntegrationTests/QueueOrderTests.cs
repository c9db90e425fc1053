using System.Globalization;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>
/// The Standalone host hands a runner whose job ended the next job of the same execution straight away (leased in
/// the transaction that enqueues it) — but only when the runner's own acquire would have taken that job: a job of
/// another execution that was waiting first still goes first.
/// </summary>
public sealed class QueueOrderTests : IAsyncLifetime
{
    private StandalonePlatform platform = null!;

    public async Task InitializeAsync() =>
        platform = await StandalonePlatform.StartAsync(new Dictionary<string, string> { ["EmbeddedRunner__Capacity"] = "1" });

    public async Task DisposeAsync() => await platform.DisposeAsync();

    [Fact]
    public async Task A_job_waiting_in_the_queue_runs_before_the_next_step_of_the_execution_whose_job_just_ended()
    {
        var slow = (string)(await platform.PostAsync("/api/v1/agents", new { name = "slow", command = new[] { "sleep", "1" } }))["id"]!;
        var fast = (string)(await platform.PostAsync("/api/v1/agents", new { name = "fast", command = new[] { "true" } }))["id"]!;
        var twoSteps = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Two steps",
            steps = new[] { new { name = "first", agent_id = slow }, new { name = "second", agent_id = fast } },
        }))["id"]!;
        var oneStep = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "One step",
            steps = new[] { new { name = "only", agent_id = fast } },
        }))["id"]!;

        var first = (string)(await platform.PostAsync($"/api/v1/workflows/{twoSteps}/start", new { }))["id"]!;
        await platform.WaitForStepStatusAsync(first, "first", "STEP_STATUS_RUNNING", TimeSpan.FromSeconds(30));
        // The runner's only slot is taken: this job waits in the queue while "first" runs.
        var waiting = (string)(await platform.PostAsync($"/api/v1/workflows/{oneStep}/start", new { }))["id"]!;

        var twoStepsDone = await platform.WaitForExecutionAsync(first, TimeSpan.FromSeconds(60));
        var oneStepDone = await platform.WaitForExecutionAsync(waiting, TimeSpan.FromSeconds(60));

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)twoStepsDone["status"]);
        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)oneStepDone["status"]);
        var waitingRan = Time(StandalonePlatform.Step(oneStepDone, "only"), "startedAt");
        var secondRan = Time(StandalonePlatform.Step(twoStepsDone, "second"), "startedAt");
        Assert.True(waitingRan < secondRan,
            $"the job that waited in the queue started at {waitingRan:O}, after the next step of the execution whose job ended ({secondRan:O})");
    }

    private static DateTimeOffset Time(System.Text.Json.Nodes.JsonObject step, string field) =>
        DateTimeOffset.Parse((string)step[field]!, CultureInfo.InvariantCulture);
}
