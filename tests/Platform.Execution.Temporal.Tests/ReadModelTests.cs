using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Persistence;
using Platform.Execution.Temporal.Tests.Replay;
using Temporalio.Testing;
using static Platform.Execution.Temporal.Tests.Executions;

namespace Platform.Execution.Temporal.Tests;

/// <summary>
/// The read model the Temporal engine keeps in PostgreSQL: the <c>RecordDecision</c> hand-overs a replayed workflow
/// made, run through the activity (<see cref="ActivityEnvironment"/>) into a real database, must leave exactly what the
/// API reads for an execution of the embedded engine — the row, the history, the folded state — and the execution's
/// bus events in the outbox, once each, however often and in whatever order the hand-overs arrive.
/// </summary>
public sealed class ReadModelTests : IAsyncLifetime
{
    private IHost host = null!;

    private NpgsqlDataSource DataSource => host.Services.GetRequiredService<NpgsqlDataSource>();

    public async Task InitializeAsync()
    {
        host = await ReadModelHost.CreateAsync("temporal_read_model");
    }

    public async Task DisposeAsync()
    {
        var connectionString = DataSource.ConnectionString;
        host.Dispose();
        await Platform.Testing.TestDatabase.DropAsync(connectionString);
    }

    [Fact]
    public async Task The_hand_overs_of_a_three_step_execution_make_the_read_model_the_API_shows()
    {
        var decisions = (await Replays.ReplayAsync(ReplayTests.ThreeStepsHistory().Build())).Decisions;

        foreach (var decision in decisions)
        {
            await RecordAsync(decision);
        }

        var (state, plan, history) = (await ReadAsync())!.Value;
        Assert.Equal(ExecutionStatus.Succeeded, state.Status);
        Assert.Equal(["test", "build", "deploy"], state.Steps.Select(s => s.Name));
        Assert.All(state.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
        Assert.Equal("1.2.3", state.FindStep("test")!.Outputs["version"]);
        Assert.Equal(ReplayTests.ThreeSteps().Name, plan.Name);
        Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), history.Select(e => e.Sequence));
        var row = await RowAsync();
        Assert.Equal(("SUCCEEDED", 11L, WorkflowId, 3), (row.Status, row.Version, row.WorkflowId, row.Revision));
        Assert.NotNull(row.FinishedAt);
        Assert.Equal(["ExecutionStartedEvent", "ExecutionFinishedEvent"], await OutboxTypesAsync());
        var finished = System.Text.Json.Nodes.JsonNode.Parse(await OutboxPayloadAsync("ExecutionFinishedEvent"))!;
        Assert.Equal(("SUCCEEDED", "1.2.3"), ((string?)finished["status"], (string?)finished["stepOutputs"]!["test"]!["version"]));
    }

    [Fact]
    public async Task Hand_overs_delivered_twice_or_early_write_each_entry_and_event_once_and_leave_no_gap()
    {
        var decisions = (await Replays.ReplayAsync(ReplayTests.CancelHistory().Build())).Decisions;

        // A hand-over that comes before the one preceding it is refused (and retried by Temporal): the history in the
        // read model has no gaps, which the watch stream relies on. Temporal retries an activity whose answer was lost.
        await RecordAsync(decisions[0]);
        await Assert.ThrowsAsync<InvalidOperationException>(() => RecordAsync(decisions[^1]));
        foreach (var decision in decisions.Concat(decisions))
        {
            await RecordAsync(decision);
        }

        var (state, _, history) = (await ReadAsync())!.Value;
        Assert.Equal(ExecutionStatus.Cancelled, state.Status);
        Assert.Equal(CompensationStatus.Succeeded, state.FindStep("prepare")!.Compensation);
        Assert.Equal(Enumerable.Range(1, history.Count).Select(i => (long)i), history.Select(e => e.Sequence));
        Assert.Equal(decisions.Sum(d => d.Entries.Count), history.Count);
        Assert.Equal("CANCELLED", (await RowAsync()).Status);
        Assert.Equal(["ExecutionStartedEvent", "ExecutionFinishedEvent"], await OutboxTypesAsync());
    }

    [Fact]
    public async Task A_hand_over_that_comes_before_the_start_is_refused_until_the_first_one_has_created_the_execution()
    {
        var decisions = (await Replays.ReplayAsync(ReplayTests.ThreeStepsHistory().Build())).Decisions;

        // Without its row (the start's insert and the first hand-over not in yet), a later hand-over fails: Temporal
        // retries it, and it goes through once the first one is in.
        await Assert.ThrowsAsync<InvalidOperationException>(() => RecordAsync(decisions[1]));
        await RecordAsync(decisions[0]);
        await RecordAsync(decisions[1]);

        var (state, _, _) = (await ReadAsync())!.Value;
        Assert.Equal(StepStatus.Succeeded, state.FindStep("test")!.Status);
        Assert.Equal(StepStatus.Dispatched, state.FindStep("build")!.Status);
    }

    private async Task RecordAsync(DecisionRecord decision)
    {
        var activities = new ExecutionActivities(new RecordingJobQueue(), host.Services.GetRequiredService<IExecutionProjection>(),
            NullLogger<ExecutionActivities>.Instance);
        await new ActivityEnvironment().RunAsync(() => activities.RecordDecisionAsync(decision));
    }

    private async Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)?> ReadAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return await host.Services.GetRequiredService<ExecutionStore>().ReadAsync(connection, Id);
    }

    private sealed record Row(string Status, long Version, Guid WorkflowId, int Revision, DateTime? FinishedAt);

    private async Task<Row> RowAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<Row>(
            "SELECT status, version, workflow_id AS WorkflowId, revision, finished_at AS FinishedAt FROM execution.executions WHERE id = @Id",
            new { Id });
    }

    private async Task<IReadOnlyList<string>> OutboxTypesAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        var types = await connection.QueryAsync<string>("SELECT message_type FROM execution.outbox ORDER BY id");
        // Stored as "<full name>, <assembly>": the short name is enough here.
        return types.Select(t => t.Split(',')[0].Split('.')[^1]).ToList();
    }

    private async Task<string> OutboxPayloadAsync(string type)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(string Type, string Payload)>("SELECT message_type, payload::text FROM execution.outbox ORDER BY id");
        return rows.Single(r => r.Type.Split(',')[0].EndsWith("." + type, StringComparison.Ordinal)).Payload;
    }
}
