using System.Text.Json.Nodes;
using Platform.Execution.Core;
using Platform.Execution.Core.Tests.Scenarios;
using Platform.Execution.Domain;
using Temporalio.Converters;
using Platform.Execution.Engine;
using Platform.Execution.Temporal.Tests.Replay;

namespace Platform.Execution.Temporal.Tests.Scenarios;

/// <summary>
/// Every scenario of the shared catalog replayed through <see cref="ExecutionWorkflow"/>: <see cref="TemporalModel"/>
/// plays the scenario on the core and writes the Temporal history the workflow's documented command order implies
/// (cancel stale timers, CancelJobs, EnqueueJobs, new timers, RecordDecision; a Failed execution's retry-window timer); the replay
/// must accept it, and the recorder must see the jobs, the timers and the outcome the catalog implies.
/// </summary>
public class CatalogReplayTests
{
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
    public async Task Scenario_replays_through_the_workflow_as_the_catalog_says(string name)
    {
        var scenario = ScenarioCatalog.Get(name);
        var model = new TemporalModel(scenario);
        foreach (var input in scenario.Script)
        {
            model.Offer(input);
        }

        var history = model.Finish();

        // The model is the core played as the workflow plays it: it must record the catalog's history.
        Assert.Equal(scenario.ExpectedHistory, model.Events.Select(EventText.Describe));
        Assert.Equal(scenario.ExpectedStatus, model.State.Status);

        var recorded = await Replays.ReplayAsync(history);

        Assert.Equal(model.Jobs, recorded.Enqueued.SelectMany(call => call).Select(j => j.JobId));
        Assert.Equal(model.Cancels, recorded.Cancelled.SelectMany(call => call).Select(c => c.JobId));
        Assert.Equal(model.Timers, recorded.Timers.Where(t => TimerIds.TryParse(t.Summary, out _, out _, out _)).Select(t => (t.Summary!, t.Delay)));
        Assert.Equal(new ExecutionOutcome(HistoryCodec.StatusName(scenario.ExpectedStatus), scenario.ExpectedError), recorded.Outcome);

        // The read model gets every entry exactly once, in order, and the status after the last one.
        Assert.Equal(model.Records, recorded.Decisions.Count);
        var handedOver = recorded.Decisions.SelectMany(d => d.Entries).ToList();
        Assert.Equal(Enumerable.Range(1, model.Events.Count).Select(i => (long)i), handedOver.Select(e => e.Sequence));
        Assert.Equal(scenario.ExpectedHistory, handedOver.Select(e => EventText.Describe(
            HistoryCodec.Decode(new StoredEvent(e.Type, e.Step, e.Attempt, e.Data)))));
        Assert.Equal(HistoryCodec.StatusName(scenario.ExpectedStatus), recorded.Decisions[^1].Status);
        Assert.NotNull(recorded.Decisions[0].Plan);
        Assert.All(recorded.Decisions.Skip(1), d => Assert.Null(d.Plan));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Scenario_history_read_back_through_the_query_folds_to_the_same_state(string name)
    {
        // What ReadAsync does with the GetSnapshot answer: the workflow's entries, through Temporal's JSON, folded.
        var scenario = ScenarioCatalog.Get(name);
        var model = new TemporalModel(scenario);
        foreach (var input in scenario.Script)
        {
            model.Offer(input);
        }

        var entries = model.Events.Select((e, i) =>
        {
            var stored = HistoryCodec.Encode(e);
            return new HistoryEntry(i + 1, stored.Type, Executions.At, stored.Step, stored.Attempt, stored.Data);
        }).ToList();
        var snapshot = new ExecutionSnapshot(ScenarioPins.Pin(scenario.Plan, Executions.WorkflowId), ScenarioPins.InputJson(scenario), entries);
        var converter = DataConverter.Default.PayloadConverter;
        var back = converter.ToValue<ExecutionSnapshot>(converter.ToPayload(snapshot));

        var state = CoreHistory.Fold(back.History, CoreHistory.ParseInput(back.InputJson));

        Assert.Equal(scenario.ExpectedHistory, back.History.Select(e => EventText.Describe(
            HistoryCodec.Decode(new StoredEvent(e.Type, e.Step, e.Attempt, e.Data)))));
        Assert.Equal((model.State.Status, model.State.Error), (state.Status, state.Error));
        Assert.Equal(model.State.Timers.Keys, state.Timers.Keys);
        Assert.Equal(
            model.State.Steps.Select(s => (s.Name, s.Status, s.Attempt, s.Error, s.Compensation, string.Join(",", s.Outputs.OrderBy(o => o.Key)))),
            state.Steps.Select(s => (s.Name, s.Status, s.Attempt, s.Error, s.Compensation, string.Join(",", s.Outputs.OrderBy(o => o.Key)))));
    }

    [Fact]
    public async Task A_scenario_history_missing_one_command_is_nondeterministic()
    {
        var scenario = ScenarioCatalog.Get("timeout");
        var model = new TemporalModel(scenario) { SkipCancelJobs = true };
        foreach (var input in scenario.Script)
        {
            model.Offer(input);
        }

        await Assert.ThrowsAsync<Temporalio.Exceptions.WorkflowNondeterminismException>(() => Replays.ReplayAsync(model.Finish()));
    }
}

/// <summary>
/// Plays a scenario on the core with the workflow's host loop and writes, with <see cref="HistoryBuilder"/>, the
/// Temporal history a live worker would have produced: one workflow task per fact (a signal, or a timer firing;
/// refused timer firings are not written: Temporal holds only active timers; nor are refused events that only the
/// core records, such as a skip offered from outside), activities completing before the next
/// fact, and the workflow's commands in its documented order.
/// </summary>
internal sealed class TemporalModel
{
    private static readonly TimeSpan RetryWindow = TimeSpan.FromMinutes(1);

    private readonly Guid executionId = Executions.Id;
    private readonly HistoryBuilder history;
    private readonly SortedDictionary<string, long> timers = new(StringComparer.Ordinal);
    private readonly List<long> running = [];
    private readonly List<ExecutionEvent> events = [];
    private long? window;

    public TemporalModel(Scenario scenario)
    {
        var input = new ExecutionWorkflowInput(executionId, ScenarioPins.Pin(scenario.Plan, Executions.WorkflowId), ScenarioPins.InputJson(scenario))
        {
            RetryWindow = RetryWindow,
        };
        history = new HistoryBuilder(executionId.ToString(), input);
        Record(new ExecutionStarted(input.Plan.ToPlan()) { Input = Executions.Json(input.InputJson) });
        Drive();
    }

    /// <summary>Leave out the CancelJobs activities (a history the workflow does not produce).</summary>
    public bool SkipCancelJobs { get; init; }

    public ExecutionState State { get; private set; } = ExecutionState.Initial;

    public IReadOnlyList<ExecutionEvent> Events => events;

    public List<Guid> Jobs { get; } = [];

    public List<Guid> Cancels { get; } = [];

    public List<(string, TimeSpan)> Timers { get; } = [];

    /// <summary>How many RecordDecision activities the workflow issues: one per workflow task that recorded events.</summary>
    public int Records { get; private set; }

    public void Offer(ScenarioInput input)
    {
        if (!ScenarioPins.ReachesTheWorkflow(input.Event))
        {
            Assert.False(input.Admitted, $"{input} cannot be offered to a Temporal workflow");
            return;
        }

        if (input.Event is TimerFired fired)
        {
            if (!input.Admitted)
            {
                return;
            }

            CompleteRunning();
            history.FireTimer(timers[fired.TimerId]);
            timers.Remove(fired.TimerId);
        }
        else
        {
            CompleteRunning();
            var signal = TemporalExecutionEngine.Signals([(input.Event, (JsonObject?)null)], "m:" + Guid.NewGuid()).Single();
            history.Signal(signal.Name, signal.Payload);
        }

        history.WorkflowTask();
        if (window is { } waiting)
        {
            history.CancelTimer(waiting);
            window = null;
        }

        if (Decider.Admits(State, input.Event))
        {
            Record(input.Event);
            Drive();
        }
        else if (State.Status == ExecutionStatus.Failed)
        {
            window = history.StartTimer(RetryWindow);
        }
    }

    /// <summary>The history up to the workflow's end (for a Failed execution: when its retry window closes).</summary>
    public Temporalio.Common.WorkflowHistory Finish()
    {
        if (window is { } waiting)
        {
            CompleteRunning();
            history.FireTimer(waiting).WorkflowTask();
        }
        else if (running.Count > 0)
        {
            CompleteRunning();
            history.WorkflowTask();
        }

        if (State.IsFinished)
        {
            history.Complete(new ExecutionOutcome(HistoryCodec.StatusName(State.Status), State.Error));
        }

        return history.Build();
    }

    private void Drive()
    {
        var jobs = new List<Guid>();
        var cancels = new List<Guid>();
        var newTimers = new List<(string Id, TimeSpan Delay)>();
        for (var commands = Decider.Decide(State); commands.Count > 0; commands = Decider.Decide(State))
        {
            foreach (var command in commands)
            {
                switch (command)
                {
                    case DispatchStep d:
                        jobs.Add(ExecutionEngine.JobId(executionId, d.Step, d.Attempt));
                        break;
                    case DispatchCompensation c:
                        jobs.Add(ExecutionEngine.CompensationJobId(executionId, c.Step, State.FindStep(c.Step)!.Attempt));
                        break;
                    case CancelJob c:
                        cancels.Add(ExecutionEngine.JobId(executionId, c.Step, c.Attempt));
                        break;
                    case StartTimer t:
                        if (timers.Remove(t.TimerId, out var replaced))
                        {
                            history.CancelTimer(replaced);
                        }

                        newTimers.RemoveAll(n => n.Id == t.TimerId);
                        newTimers.Add((t.TimerId, t.Delay));
                        break;
                }

                Record(Decider.Record(command));
            }
        }

        foreach (var (id, started) in timers.ToArray())
        {
            if (!State.Timers.ContainsKey(id))
            {
                history.CancelTimer(started);
                timers.Remove(id);
            }
        }

        if (cancels.Count > 0 && !SkipCancelJobs)
        {
            running.Add(history.ScheduleActivity(ExecutionActivities.CancelJobsName, null));
            Cancels.AddRange(cancels);
        }

        if (jobs.Count > 0)
        {
            running.Add(history.ScheduleActivity(ExecutionActivities.EnqueueJobsName, null));
            Jobs.AddRange(jobs);
        }

        foreach (var (id, delay) in newTimers.Where(n => State.Timers.ContainsKey(n.Id)))
        {
            timers[id] = history.StartTimer(delay);
            Timers.Add((id, delay));
        }

        // The workflow task's entries go to the read model after its decisions' commands.
        history.Record();
        Records++;

        if (State.Status == ExecutionStatus.Failed)
        {
            window = history.StartTimer(RetryWindow);
        }
    }

    private void Record(ExecutionEvent e)
    {
        State = State.Apply(e);
        events.Add(e);
    }

    private void CompleteRunning()
    {
        foreach (var scheduled in running)
        {
            history.CompleteActivity(scheduled);
        }

        running.Clear();
    }
}
