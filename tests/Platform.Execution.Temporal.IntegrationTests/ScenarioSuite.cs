using System.Text.Json.Nodes;
using Platform.Execution.Core;
using Platform.Execution.Core.Tests.Scenarios;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Temporal.Tests.Scenarios;

namespace Platform.Execution.Temporal.IntegrationTests;

/// <summary>
/// Every scenario of the shared catalog on a real Temporal server, through <see cref="TemporalExecutionEngine"/>:
/// started with <c>StartAsync</c>, its facts applied with <c>ApplyAsync</c> (signals), its timers fired in the
/// script's order (<see cref="TimerControl"/>), read back with <c>ReadAsync</c> (query). It must record exactly the
/// catalog's history, end in its status and error, and hand Runner-Registry the jobs of its dispatches.
/// </summary>
[Collection(TemporalCollection.Name)]
public class ScenarioSuite(TemporalServer temporal)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Names()
    {
        var names = new TheoryData<string>();
        foreach (var scenario in ScenarioCatalog.All)
        {
            names.Add(scenario.Name);
        }

        return names;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Scenario_plays_on_Temporal_as_the_catalog_says(string name)
    {
        var scenario = ScenarioCatalog.Get(name);
        var workflowId = temporal.Catalog.Add(Pin(scenario.Plan));
        var startInput = JsonNode.Parse(ScenarioPins.InputJson(scenario))!.AsObject();
        var id = await temporal.Engine.StartAsync(new StartCommand(workflowId, 1, startInput, null), default);
        var handle = temporal.Client.GetWorkflowHandle<ExecutionWorkflow>(id.ToString());
        var sent = 0;

        foreach (var input in scenario.Script)
        {
            if (!ScenarioPins.ReachesTheWorkflow(input.Event))
            {
                // Only the core records it (a skip); offered from outside it is refused, and never reaches Temporal.
                Assert.False(input.Admitted, $"{input} cannot be offered to a Temporal workflow");
                continue;
            }

            if (input.Event is TimerFired fired)
            {
                var (state, _, history) = await ReadAsync(id);
                if (!input.Admitted)
                {
                    // Temporal holds only the timers the core holds active (the others were cancelled): nothing to fire.
                    Assert.False(state.Timers.ContainsKey(fired.TimerId), $"{input}: the timer is active");
                    continue;
                }

                Assert.True(state.Timers.ContainsKey(fired.TimerId), $"{input}: the timer is not active");
                var firedBefore = history.Count(e => e.Type == HistoryCodec.TimerFiredType);
                await handle.SignalAsync(wf => wf.SignalAsync(TimerControl.FireSignal(fired.TimerId)));
                await Eventually(async () => (await ReadAsync(id)).History.Count(e => e.Type == HistoryCodec.TimerFiredType) > firedBefore,
                    $"{input} was not applied");
                continue;
            }

            var before = await handle.QueryAsync(wf => wf.GetProgress());
            var answered = await temporal.Engine.ApplyAsync(id, [(input.Event, null)], Guid.NewGuid(), "it", default);
            if (input.Event is CancelRequested or SignalReceived or RetryRequested)
            {
                // A user's request is answered at once, as the API needs it.
                Assert.True(answered == input.Admitted, $"{input}: the engine answered {answered}");
                if (!answered)
                {
                    continue;
                }
            }

            sent++;
            var after = await WaitHandledAsync(handle, sent);
            Assert.True((after.Admitted > before.Admitted) == input.Admitted, $"{input}: {after.LastRefusal}");
        }

        var (final, _, entries) = await ReadAsync(id);
        var events = entries.Select(e => HistoryCodec.Decode(new StoredEvent(e.Type, e.Step, e.Attempt, e.Data))).ToList();
        Assert.Equal(scenario.ExpectedHistory, events.Select(EventText.Describe));
        Assert.Equal(scenario.ExpectedStatus, final.Status);
        Assert.Equal(scenario.ExpectedError, final.Error);
        foreach (var (step, status) in scenario.ExpectedSteps)
        {
            Assert.Equal(status, final.FindStep(step)!.Status);
        }

        // Runner-Registry got exactly the jobs of the recorded dispatches and the cancels (an activity may still be
        // running when the next fact arrives, so the order across decisions is not compared).
        var expectedJobs = events.Select(e => e switch
        {
            StepDispatched d => ExecutionEngine.JobId(id, d.Step, d.Attempt),
            CompensationDispatched c => ExecutionEngine.CompensationJobId(id, c.Step, final.FindStep(c.Step)!.Attempt),
            _ => Guid.Empty,
        }).Where(g => g != Guid.Empty).ToList();
        await Eventually(() => Task.FromResult(temporal.Queue.EnqueuedFor(id).Count >= expectedJobs.Count), "the jobs were not all enqueued");
        Assert.Equal(expectedJobs.Order(), temporal.Queue.EnqueuedFor(id).Select(j => j.JobId).Order());
        var expectedCancels = events.OfType<JobCancelRequested>().Select(c => ExecutionEngine.JobId(id, c.Step, c.Attempt)).ToList();
        await Eventually(() => Task.FromResult(temporal.Queue.CancelledFor(id).Count >= expectedCancels.Count), "the cancels were not all sent");
        Assert.Equal(expectedCancels.Order(), temporal.Queue.CancelledFor(id).Select(c => c.JobId).Order());
    }

    [Fact]
    public async Task Start_with_the_same_idempotency_key_returns_the_same_execution()
    {
        var workflowId = temporal.Catalog.Add(Pin(ScenarioCatalog.Get("sequential").Plan));
        var command = new StartCommand(workflowId, 1, new JsonObject(), "order-" + Guid.NewGuid());

        var first = await temporal.Engine.StartAsync(command, default);
        var second = await temporal.Engine.StartAsync(command, default);

        Assert.Equal(first, second);
        Assert.Equal(TemporalExecutionEngine.ExecutionIdFor(workflowId, command.IdempotencyKey!), first);
        var (_, _, history) = await ReadAsync(first);
        Assert.Single(history, e => e.Type == HistoryCodec.ExecutionStartedType);
    }

    [Fact]
    public async Task Reading_an_unknown_execution_answers_nothing_and_applying_to_it_is_not_admitted()
    {
        Assert.Null(await temporal.Engine.ReadAsync(Guid.NewGuid(), default));
        Assert.False(await temporal.Engine.ApplyAsync(Guid.NewGuid(), [(new CancelRequested(null), null)], Guid.NewGuid(), "it", default));
    }

    [Fact]
    public async Task A_redelivered_job_event_is_applied_once()
    {
        var workflowId = temporal.Catalog.Add(Pin(ScenarioCatalog.Get("retry-execution").Plan));
        var id = await temporal.Engine.StartAsync(new StartCommand(workflowId, 1, new JsonObject(), null), default);
        var handle = temporal.Client.GetWorkflowHandle<ExecutionWorkflow>(id.ToString());
        var message = Guid.NewGuid();

        await temporal.Engine.ApplyAsync(id, [(new StepStarted("build", 1, "runner-1"), null)], message, "it", default);
        await temporal.Engine.ApplyAsync(id, [(new StepStarted("build", 1, "runner-1"), null)], message, "it", default);
        var progress = await WaitHandledAsync(handle, 2);

        Assert.Equal(1, progress.Admitted);
        Assert.Contains("already applied", progress.LastRefusal, StringComparison.Ordinal);
    }

    /// <summary>The execution as the API reads it (the PostgreSQL read model), once it holds every entry the workflow
    /// has recorded: the read model trails the workflow by one RecordDecision activity.</summary>
    private async Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)> ReadAsync(Guid id)
    {
        var handle = temporal.Client.GetWorkflowHandle<ExecutionWorkflow>(id.ToString());
        (ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)? read = null;
        await Eventually(async () =>
        {
            var length = (await handle.QueryAsync(wf => wf.GetProgress())).HistoryLength;
            read = await temporal.Engine.ReadAsync(id, default);
            return read?.History.Count == length;
        }, $"the read model of execution {id} did not catch up with its workflow");
        return read!.Value;
    }

    private static async Task<ExecutionProgress> WaitHandledAsync(Temporalio.Client.WorkflowHandle<ExecutionWorkflow> handle, int handled)
    {
        ExecutionProgress? progress = null;
        await Eventually(async () => (progress = await handle.QueryAsync(wf => wf.GetProgress())).Handled >= handled,
            $"the workflow did not handle {handled} signals");
        return progress!;
    }

    private static async Task Eventually(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(50);
        }
    }

    private static PinnedWorkflow Pin(ExecutionPlan plan) => ScenarioPins.Pin(plan, Guid.NewGuid());
}
