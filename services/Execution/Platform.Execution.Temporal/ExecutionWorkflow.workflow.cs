using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Temporalio.Exceptions;
using Temporalio.Workflows;
using TemporalRetryPolicy = Temporalio.Common.RetryPolicy;

namespace Platform.Execution.Temporal;

// Inside the namespace: Platform.Workflow (the expressions' namespace) would otherwise hide Temporal's Workflow.
using Workflow = Temporalio.Workflows.Workflow;

/// <summary>
/// One execution as a Temporal workflow (workflow id = execution id), hosting the same deterministic core as the
/// embedded engine: the state is the fold of the core's events, and the host loop is the core's own
/// (<see cref="Decider"/>'s remarks): an external fact is recorded only if <see cref="Decider.Admits"/> says so; then
/// Decide → carry out each command → Record, until the core has nothing more to say.
/// </summary>
/// <remarks>
/// <para>How commands are carried out: <see cref="DispatchStep"/> and <see cref="DispatchCompensation"/> become jobs
/// (built as the embedded engine builds them) handed to the <c>EnqueueJobs</c> activity, one call per decision;
/// <see cref="CancelJob"/> becomes the <c>CancelJobs</c> activity; <see cref="StartTimer"/> a durable timer whose
/// firing is offered back as <see cref="TimerFired"/> (jitter drawn from <see cref="Workflow.Random"/> and recorded
/// in <see cref="TimerScheduled"/>); the other commands need nothing but their record. A command is recorded when the
/// workflow issues it: Temporal makes the activity or timer durable in the same workflow task.</para>
/// <para>Order of the Temporal commands of one decision: first the timers the core no longer holds active are
/// cancelled, then <c>CancelJobs</c>, then <c>EnqueueJobs</c>, then the new timers in the order the core asked for
/// them. After the decisions of a workflow task, one <c>RecordDecision</c> hands the entries they recorded, and the
/// status after them, to the PostgreSQL read model that serves the API and publishes the execution's bus events.
/// Replay tests pin this order.</para>
/// <para>Facts from outside arrive as signals (<c>JobStarted</c>, <c>JobFinished</c>, <c>Cancel</c>, <c>Signal</c>,
/// <c>Retry</c>); handlers only queue them, the run loop applies them in arrival order. A signal's message id is
/// applied once. An activity that fails for good is a fact too: its steps fail ("could not enqueue the job: ...").
/// </para>
/// <para>The workflow ends when the execution is Succeeded or Cancelled; a Failed execution stays open for
/// <see cref="ExecutionWorkflowInput.RetryWindow"/> so that a <c>Retry</c> can reach it. It continues as new (handing
/// over its events, timers and seen message ids) when its Temporal history grows past
/// <see cref="ExecutionWorkflowInput.ContinueAsNewAfterEvents"/>.</para>
/// <para>No DI, no wall clock, no <c>Task.Run</c>/<c>Task.Delay</c>/<c>ConfigureAwait(false)</c>: only
/// <see cref="Workflow"/>'s deterministic APIs.</para>
/// </remarks>
[Workflow]
public sealed class ExecutionWorkflow
{
    public const int DefaultContinueAsNewAfterEvents = 10_000;

    /// <summary>How many message ids a run remembers (and hands over) for deduplication.</summary>
    public const int MessageMemory = 2_000;

    public const string JobStartedSignalName = "JobStarted";
    public const string JobFinishedSignalName = "JobFinished";
    public const string CancelSignalName = "Cancel";
    public const string ApprovalSignalName = "Signal";
    public const string RetrySignalName = "Retry";

    public static readonly TimeSpan DefaultRetryWindow = TimeSpan.FromDays(30);

    private readonly ExecutionWorkflowInput input;
    private readonly Guid executionId;
    private readonly PinnedWorkflow plan;
    private readonly JsonElement inputs;
    private readonly Queue<Fact> inbox = new();
    private readonly List<HistoryEntry> history = [];
    private readonly SortedDictionary<string, ActiveTimer> timers = new(StringComparer.Ordinal);
    private readonly HashSet<string> seen = new(StringComparer.Ordinal);
    private readonly Queue<string> seenOrder = new();
    private ExecutionState state = ExecutionState.Initial;
    private DateTimeOffset? retryDeadline;
    private int inFlight;
    private int handedOver;
    private int received;
    private int handled;
    private int admitted;
    private string? lastRefusal;

    [WorkflowInit]
    public ExecutionWorkflow(ExecutionWorkflowInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        this.input = input;
        executionId = input.ExecutionId;
        plan = input.Plan;
        inputs = CoreHistory.ParseInput(input.InputJson);
    }

    private static DateTimeOffset Now => new(DateTime.SpecifyKind(Workflow.UtcNow, DateTimeKind.Utc));

    [WorkflowRun]
    public async Task<ExecutionOutcome> RunAsync(ExecutionWorkflowInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Carry is { } carry)
        {
            Restore(carry);
        }
        else
        {
            Start();
        }

        while (true)
        {
            while (inbox.TryDequeue(out var fact))
            {
                Apply(fact);
            }

            RecordNewEntries();

            var waitingForRetry = state.Status == ExecutionStatus.Failed;
            if (state.IsFinished && !waitingForRetry)
            {
                break;
            }

            if (ShouldContinueAsNew())
            {
                // Activities still out would be lost to this run: let them end (their failures are facts) first.
                await Workflow.WaitConditionAsync(() => (inFlight == 0 && Workflow.AllHandlersFinished) || inbox.Count > 0);
                if (inbox.Count == 0)
                {
                    var next = input with { Carry = Handover() };
                    throw Workflow.CreateContinueAsNewException((ExecutionWorkflow wf) => wf.RunAsync(next));
                }

                continue;
            }

            if (waitingForRetry)
            {
                retryDeadline ??= Now + (input.RetryWindow ?? DefaultRetryWindow);
                var left = retryDeadline.Value - Now;
                if (left <= TimeSpan.Zero || !await Workflow.WaitConditionAsync(() => inbox.Count > 0, left))
                {
                    break;
                }
            }
            else
            {
                await Workflow.WaitConditionAsync(() => inbox.Count > 0);
            }
        }

        foreach (var timer in timers.Values)
        {
            timer.Cancel.Cancel();
        }

        timers.Clear();
        await Workflow.WaitConditionAsync(() => inFlight == 0 && Workflow.AllHandlersFinished);
        return new ExecutionOutcome(HistoryCodec.StatusName(state.Status), state.Error);
    }

    // ---- signals: queued, applied by the run loop in arrival order ----

    /// <summary>A runner started a job (<see cref="Messaging.JobResults.Started"/>): carries <c>STEP_STARTED</c>.</summary>
    [WorkflowSignal(JobStartedSignalName)]
    public Task JobStartedAsync(JobEventsSignal signal)
    {
        Receive(signal?.MessageId, () => Decode(signal!, JobStartedTypes));
        return Task.CompletedTask;
    }

    /// <summary>A job ended (<see cref="Messaging.JobResults.Finished"/>): the step's result, or its compensation's.</summary>
    [WorkflowSignal(JobFinishedSignalName)]
    public Task JobFinishedAsync(JobEventsSignal signal)
    {
        Receive(signal?.MessageId, () => Decode(signal!, JobFinishedTypes));
        return Task.CompletedTask;
    }

    [WorkflowSignal(CancelSignalName)]
    public Task CancelAsync(CancelSignal signal)
    {
        Receive(signal?.MessageId, () => [(new CancelRequested(signal!.Reason), null)]);
        return Task.CompletedTask;
    }

    /// <summary>A named signal: approves the approval step of that name when it is waiting.</summary>
    [WorkflowSignal(ApprovalSignalName)]
    public Task SignalAsync(ApprovalSignal signal)
    {
        Receive(signal?.MessageId, () =>
        {
            var name = Required(signal!.Name, "the signal's name");
            var payload = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in signal.Payload ?? new Dictionary<string, string>())
            {
                payload[key] = value ?? "";
            }

            return [(new SignalReceived(name, payload), null)];
        });
        return Task.CompletedTask;
    }

    [WorkflowSignal(RetrySignalName)]
    public Task RetryAsync(RetrySignal signal)
    {
        Receive(signal?.MessageId, () => [(new RetryRequested(), null)]);
        return Task.CompletedTask;
    }

    // ---- queries ----

    /// <summary>The core's events so far, in order, as the API shows them (all runs of this execution).</summary>
    [WorkflowQuery("GetHistory")]
    public IReadOnlyList<HistoryEntry> GetHistory() => history.ToArray();

    /// <summary>What the read API needs in one round trip: the pinned plan, the input and the history.</summary>
    [WorkflowQuery("GetSnapshot")]
    public ExecutionSnapshot GetSnapshot() => new(plan, input.InputJson, history.ToArray());

    [WorkflowQuery("GetProgress")]
    public ExecutionProgress GetProgress() =>
        new(HistoryCodec.StatusName(state.Status), received, handled, admitted, lastRefusal, history.Count);

    // ---- the host loop ----

    private void Start()
    {
        var started = new ExecutionStarted(plan.ToPlan()) { Input = inputs };
        try
        {
            Record(started, null);
        }
        catch (InvalidOperationException e)
        {
            // A plan the core refuses can never run: fail the workflow rather than retry its task forever.
            throw new ApplicationFailureException($"execution {executionId}: {e.Message}", "PlanRefused", nonRetryable: true);
        }

        Drive();
    }

    /// <summary>Offers a fact's events to the core (each only if admitted), then lets the core decide.</summary>
    private void Apply(Fact fact)
    {
        if (fact.FromSignal)
        {
            handled++;
        }

        if (fact.MessageId is { } messageId && !Remember(messageId))
        {
            lastRefusal = $"message {messageId} was already applied";
            return;
        }

        var any = false;
        string? refusal = fact.Refusal;
        foreach (var (e, details) in fact.Events)
        {
            var reason = Decider.RejectionReason(state, e);
            if (reason is null)
            {
                Record(e, details);
                any = true;
            }
            else
            {
                refusal = $"{e.GetType().Name}: {reason}";
                Workflow.Logger.LogDebug("Execution {ExecutionId}: {Event} not admitted: {Reason}", executionId, e.GetType().Name, reason);
            }
        }

        if (fact.FromSignal)
        {
            admitted += any ? 1 : 0;
            lastRefusal = any ? lastRefusal : refusal;
        }

        if (any)
        {
            Drive();
        }
    }

    /// <summary>
    /// Decide → do → Record until the core is settled, then issue the Temporal commands of the decision (see the
    /// class remarks for their order).
    /// </summary>
    private void Drive()
    {
        List<JobRequest>? jobs = null;
        List<JobCancellation>? cancellations = null;
        List<string>? newTimers = null;
        for (var round = 0; ; round++)
        {
            if (round == 1000)
            {
                throw new InvalidOperationException($"execution {executionId}: the core did not settle after 1000 rounds");
            }

            var commands = Decider.Decide(state);
            if (commands.Count == 0)
            {
                break;
            }

            foreach (var command in commands)
            {
                var recorded = Decider.Record(command);
                JsonObject? details = null;
                switch (command)
                {
                    case DispatchStep dispatch:
                        var job = JobBuilder.Job(executionId, plan, inputs, state, dispatch);
                        (jobs ??= []).Add(job);
                        details = new JsonObject { ["job_id"] = job.JobId.ToString() };
                        break;
                    case DispatchCompensation compensation:
                        var compensationJob = JobBuilder.CompensationJob(executionId, plan, inputs, state, compensation.Step);
                        (jobs ??= []).Add(compensationJob);
                        details = new JsonObject { ["job_id"] = compensationJob.JobId.ToString() };
                        break;
                    case StartTimer timer:
                        // Workflow.Random replays the same numbers, and the delay used is recorded: the fold stays pure.
                        var delay = JobBuilder.Delay(timer, timer.Jitter ? Workflow.Random.NextDouble() : 0);
                        recorded = new TimerScheduled(timer.TimerId, delay);
                        var dueAt = Now + delay;
                        Replace(timer.TimerId, new ActiveTimer(delay, dueAt));
                        newTimers ??= [];
                        newTimers.Remove(timer.TimerId);
                        newTimers.Add(timer.TimerId);
                        details = new JsonObject { ["due_at"] = dueAt };
                        break;
                    case CancelJob cancel:
                        var cancellation = JobBuilder.Cancellation(executionId, state, cancel);
                        (cancellations ??= []).Add(cancellation);
                        details = new JsonObject { ["reason"] = cancellation.Reason };
                        break;
                }

                Record(recorded, details);
            }
        }

        // Timers whose reason went away can only fire into a refusal: cancel them (and replaced ones) first.
        foreach (var (id, timer) in timers.ToArray())
        {
            if (!state.Timers.ContainsKey(id))
            {
                timer.Cancel.Cancel();
                timers.Remove(id);
            }
        }

        if (cancellations is not null)
        {
            _ = CancelJobsAsync(cancellations);
        }

        if (jobs is not null)
        {
            _ = EnqueueJobsAsync(jobs);
        }

        foreach (var id in newTimers ?? [])
        {
            if (timers.TryGetValue(id, out var timer) && !timer.Started)
            {
                _ = RunTimerAsync(id, timer);
            }
        }
    }

    /// <summary>Hands the entries recorded since the last hand-over to the read model: once per workflow task that
    /// recorded any, after the commands of its decisions.</summary>
    private void RecordNewEntries()
    {
        if (history.Count == handedOver)
        {
            return;
        }

        var entries = history.GetRange(handedOver, history.Count - handedOver);
        var first = handedOver == 0;
        handedOver = history.Count;
        _ = RecordDecisionAsync(new DecisionRecord(executionId, entries, HistoryCodec.StatusName(state.Status), state.Error)
        {
            Plan = first ? plan : null,
            InputJson = first ? input.InputJson : null,
            IdempotencyKey = first ? input.IdempotencyKey : null,
        });
    }

    private void Record(ExecutionEvent e, JsonObject? details)
    {
        state = state.Apply(e);
        var stored = HistoryCodec.Encode(e, details);
        history.Add(new HistoryEntry(history.Count + 1, stored.Type, Now, stored.Step, stored.Attempt, stored.Data));
        if (e is ExecutionFinished)
        {
            retryDeadline = null;
        }
    }

    // ---- side effects ----

    private async Task EnqueueJobsAsync(IReadOnlyList<JobRequest> jobs)
    {
        inFlight++;
        try
        {
            await Workflow.ExecuteActivityAsync((ExecutionActivities a) => a.EnqueueJobsAsync(jobs), JobQueueCall("enqueue " + Describe(jobs)));
        }
        catch (ActivityFailureException e)
        {
            // Enqueueing failed for good (a deliberate refusal, or retries gave up): those attempts fail.
            var why = (e.InnerException ?? e).Message;
            Workflow.Logger.LogWarning("Execution {ExecutionId}: could not enqueue jobs: {Error}", executionId, why);
            inbox.Enqueue(new Fact(null, jobs.Select(job => JobBuilder.IsCompensation(job)
                ? ((ExecutionEvent)new CompensationFailed(job.StepName, $"could not enqueue the compensation job: {why}"), (JsonObject?)null)
                : (new StepFailed(job.StepName, job.StepAttempt, null, $"could not enqueue the job: {why}"), null)).ToArray()));
        }
        finally
        {
            inFlight--;
        }
    }

    private async Task RecordDecisionAsync(DecisionRecord decision)
    {
        inFlight++;
        try
        {
            await Workflow.ExecuteActivityAsync((ExecutionActivities a) => a.RecordDecisionAsync(decision),
                JobQueueCall($"record #{decision.Entries[0].Sequence}-{decision.Entries[^1].Sequence}"));
        }
        catch (ActivityFailureException e)
        {
            // Only a malformed record fails for good; the execution goes on, its read model misses these entries.
            Workflow.Logger.LogError("Execution {ExecutionId}: could not record its progress: {Error}", executionId, (e.InnerException ?? e).Message);
        }
        finally
        {
            inFlight--;
        }
    }

    private async Task CancelJobsAsync(IReadOnlyList<JobCancellation> cancellations)
    {
        inFlight++;
        try
        {
            await Workflow.ExecuteActivityAsync((ExecutionActivities a) => a.CancelJobsAsync(cancellations), JobQueueCall("cancel jobs"));
        }
        catch (ActivityFailureException e)
        {
            // The job may still end by itself (its result is then admitted as usual); nothing for the core here.
            Workflow.Logger.LogWarning("Execution {ExecutionId}: could not cancel jobs: {Error}", executionId, (e.InnerException ?? e).Message);
        }
        finally
        {
            inFlight--;
        }
    }

    private async Task RunTimerAsync(string id, ActiveTimer timer)
    {
        timer.Started = true;
        var left = timer.DueAt - Now;
        try
        {
            await Workflow.DelayWithOptionsAsync(new DelayOptions(left > TimeSpan.Zero ? left : TimeSpan.Zero, id, timer.Cancel.Token));
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (timers.TryGetValue(id, out var current) && ReferenceEquals(current, timer))
        {
            timers.Remove(id);
            inbox.Enqueue(new Fact(null, [(new TimerFired(id), null)]));
        }
    }

    /// <summary>Keyed by id: scheduling an id again replaces (cancels) the earlier timer of that id.</summary>
    private void Replace(string id, ActiveTimer timer)
    {
        if (timers.TryGetValue(id, out var earlier))
        {
            earlier.Cancel.Cancel();
        }

        timers[id] = timer;
    }

    private static ActivityOptions JobQueueCall(string summary) => new()
    {
        // Runner-Registry enqueues and cancels idempotently by job id, and the read model records an entry once, so
        // retrying until they answer is safe.
        StartToCloseTimeout = TimeSpan.FromSeconds(30),
        RetryPolicy = new TemporalRetryPolicy
        {
            InitialInterval = TimeSpan.FromSeconds(1),
            BackoffCoefficient = 2,
            MaximumInterval = TimeSpan.FromMinutes(1),
            MaximumAttempts = 0,
        },
        Summary = summary,
    };

    private static string Describe(IReadOnlyList<JobRequest> jobs) =>
        string.Join(", ", jobs.Select(j => $"{j.StepName}#{j.StepAttempt}"));

    // ---- signals in, continue-as-new ----

    private static readonly HashSet<string> JobStartedTypes = new(StringComparer.Ordinal) { HistoryCodec.StepStartedType };

    private static readonly HashSet<string> JobFinishedTypes = new(StringComparer.Ordinal)
    {
        HistoryCodec.StepStartedType,
        HistoryCodec.StepSucceededType,
        HistoryCodec.StepFailedType,
        HistoryCodec.StepCancelledType,
        HistoryCodec.CompensationSucceededType,
        HistoryCodec.CompensationFailedType,
    };

    /// <summary>Queues a signal's facts. A payload that cannot be read is refused here: a signal handler must not throw.</summary>
    private void Receive(string? messageId, Func<IReadOnlyList<(ExecutionEvent, JsonObject?)>> read)
    {
        received++;
        IReadOnlyList<(ExecutionEvent, JsonObject?)> events;
        string? refusal = null;
        try
        {
            events = read();
        }
        catch (Exception e)
        {
            // Whatever a malformed payload throws while it is read: the fact is refused, the workflow goes on.
            events = [];
            refusal = $"unreadable signal: {e.Message}";
            Workflow.Logger.LogWarning("Execution {ExecutionId}: refused an unreadable signal: {Error}", executionId, e.Message);
        }

        inbox.Enqueue(new Fact(messageId, events) { FromSignal = true, Refusal = refusal });
    }

    private static IReadOnlyList<(ExecutionEvent, JsonObject?)> Decode(JobEventsSignal signal, HashSet<string> allowed)
    {
        ArgumentNullException.ThrowIfNull(signal);
        var events = new List<(ExecutionEvent, JsonObject?)>(signal.Events?.Count ?? 0);
        foreach (var stored in signal.Events ?? [])
        {
            ArgumentNullException.ThrowIfNull(stored);
            if (!allowed.Contains(stored.Type))
            {
                throw new ArgumentException($"a job signal cannot carry {stored.Type}");
            }

            Required(stored.Step, "the step of " + stored.Type);
            if (stored.Type is not (HistoryCodec.CompensationSucceededType or HistoryCodec.CompensationFailedType) && stored.Attempt is null)
            {
                throw new ArgumentException($"{stored.Type} without an attempt");
            }

            // The stored form keeps the details next to the event's own fields; the history shows them all again.
            var data = stored.Data ?? new JsonObject();
            events.Add((HistoryCodec.Decode(stored with { Data = data }), (JsonObject)data.DeepClone()));
        }

        return events;
    }

    private static string Required(string? value, string what) =>
        string.IsNullOrEmpty(value) ? throw new ArgumentException($"{what} is missing") : value;

    private bool Remember(string messageId)
    {
        if (!seen.Add(messageId))
        {
            return false;
        }

        seenOrder.Enqueue(messageId);
        while (seenOrder.Count > MessageMemory)
        {
            seen.Remove(seenOrder.Dequeue());
        }

        return true;
    }

    private bool ShouldContinueAsNew() =>
        Workflow.ContinueAsNewSuggested || Workflow.CurrentHistoryLength >= input.ContinueAsNewAfterEvents;

    private ExecutionCarry Handover() => new(
        history.ToArray(),
        timers.Select(t => new CarriedTimer(t.Key, t.Value.DueAt)).ToArray(),
        seenOrder.ToArray(),
        retryDeadline)
    {
        Received = received,
        Handled = handled,
        Admitted = admitted,
    };

    /// <summary>The next run: the state is the fold of the handed-over events; pending timers run for the time left.</summary>
    private void Restore(ExecutionCarry carry)
    {
        foreach (var entry in carry.History)
        {
            state = state.Apply(CoreHistory.Decode(entry, inputs));
            history.Add(entry);
        }

        foreach (var messageId in carry.SeenMessages)
        {
            Remember(messageId);
        }

        received = carry.Received;
        handled = carry.Handled;
        admitted = carry.Admitted;
        retryDeadline = carry.RetryDeadline;
        var due = carry.Timers.ToDictionary(t => t.TimerId, t => t.DueAt, StringComparer.Ordinal);
        foreach (var (id, timer) in state.Timers)
        {
            var active = new ActiveTimer(timer.Delay, due.TryGetValue(id, out var dueAt) ? dueAt : Now + timer.Delay);
            timers[id] = active;
            _ = RunTimerAsync(id, active);
        }

        // The previous run recorded what it handed over (it waited for its activities before continuing as new).
        handedOver = history.Count;

        // Settled before the handover; a decision left over (none expected) is taken now.
        Drive();
    }

    /// <summary>A fact to offer the core: one or more events (a job's start and end may come together).</summary>
    private sealed record Fact(string? MessageId, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> Events)
    {
        public bool FromSignal { get; init; }

        public string? Refusal { get; init; }
    }

    /// <summary>A durable timer the workflow holds for the core, keyed by timer id.</summary>
    private sealed class ActiveTimer(TimeSpan delay, DateTimeOffset dueAt)
    {
        public TimeSpan Delay { get; } = delay;

        public DateTimeOffset DueAt { get; } = dueAt;

        public CancellationTokenSource Cancel { get; } = new();

        public bool Started { get; set; }
    }
}
