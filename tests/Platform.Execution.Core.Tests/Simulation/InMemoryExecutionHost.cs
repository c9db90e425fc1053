using System.Collections.ObjectModel;
using System.Text.Json;

namespace Platform.Execution.Core.Tests.Simulation;

/// <summary>
/// Runs the core with the host-loop semantics every engine must have, in memory:
/// an external fact is recorded only if <see cref="Decider.Admits"/> says so; after every recorded fact the host
/// runs Decide → do the command → Record → Apply until Decide returns nothing.
/// </summary>
/// <remarks>
/// The reference host for scenario suites: a scenario drives it with <see cref="Start(ExecutionPlan, JsonElement?)"/>, job
/// results, timers firing, cancels, signals, retries and compensation results, and reads <see cref="State"/>,
/// <see cref="History"/> and the commands. "Doing" a command here means handing it out through
/// <see cref="TakeCommands"/> (an outbox); a <see cref="StartTimer"/> is also stored in <see cref="ScheduledTimers"/>
/// (keyed by id, as a real host stores timer rows) until it is fired — stale ones included, as a real host may fire
/// them. The host asserts the core's idempotence: a command decided again after it was recorded (in the same run: a
/// <see cref="RetryRequested"/> starts a new one) throws.
/// </remarks>
/// <param name="jitter">
/// The host's randomness for <see cref="StartTimer.Jitter"/>: the delay to record for a jittered timer. Default: none
/// (the command's delay).
/// </param>
public sealed class InMemoryExecutionHost(Func<StartTimer, TimeSpan>? jitter = null)
{
    private readonly List<ExecutionEvent> _history = [];
    private readonly List<ExecutionCommand> _commands = [];
    private readonly HashSet<ExecutionCommand> _issued = [];
    private readonly List<RejectedEvent> _rejected = [];
    private readonly SortedDictionary<string, TimeSpan> _scheduledTimers = new(StringComparer.Ordinal);
    private int _taken;

    public ExecutionState State { get; private set; } = ExecutionState.Initial;

    /// <summary>Every recorded event, in order (what an engine persists).</summary>
    public IReadOnlyList<ExecutionEvent> History => _history.AsReadOnly();

    /// <summary>Every command the core issued, in order.</summary>
    public IReadOnlyList<ExecutionCommand> Commands => _commands.AsReadOnly();

    /// <summary>External events that were not admitted, with the reason.</summary>
    public IReadOnlyList<RejectedEvent> Rejected => _rejected.AsReadOnly();

    /// <summary>The steps dispatched so far, in dispatch order (a step appears once per attempt).</summary>
    public IReadOnlyList<string> DispatchedSteps => _commands.OfType<DispatchStep>().Select(d => d.Step).ToList();

    /// <summary>The last <see cref="FinishExecution"/> command, once issued (one per run).</summary>
    public FinishExecution? Finish => _commands.OfType<FinishExecution>().LastOrDefault();

    /// <summary>Steps that are Dispatched or Running, in declaration order.</summary>
    public IReadOnlyList<string> ActiveSteps => State.Steps.Where(s => s.IsActive).Select(s => s.Name).ToList();

    /// <summary>The timers the core considers active (firing one of them is admitted).</summary>
    public IReadOnlyDictionary<string, TimerState> ActiveTimers => State.Timers;

    /// <summary>Every timer the host stored and has not fired yet, with its recorded delay — stale ones included.</summary>
    public IReadOnlyDictionary<string, TimeSpan> ScheduledTimers => _scheduledTimers;

    /// <summary>The jobs the core asked to cancel, in order.</summary>
    public IReadOnlyList<CancelJob> CancelledJobs => _commands.OfType<CancelJob>().ToList();

    /// <summary>The compensations the core dispatched, in order.</summary>
    public IReadOnlyList<string> CompensatedSteps => _commands.OfType<DispatchCompensation>().Select(c => c.Step).ToList();

    public InMemoryExecutionHost Start(ExecutionPlan plan, JsonElement? input = null)
    {
        if (!Deliver(new ExecutionStarted(plan) { Input = input }))
        {
            throw new InvalidOperationException($"start refused: {_rejected[^1].Reason}");
        }

        return this;
    }

    public InMemoryExecutionHost Start(params PlannedStep[] steps) => Start(new ExecutionPlan(steps));

    /// <summary>Offers an external event. Returns whether it was admitted (and so recorded and acted on).</summary>
    public bool Deliver(ExecutionEvent incoming)
    {
        ArgumentNullException.ThrowIfNull(incoming);
        var reason = Decider.RejectionReason(State, incoming);
        if (reason is not null)
        {
            _rejected.Add(new RejectedEvent(incoming, reason));
            return false;
        }

        if (incoming is RetryRequested)
        {
            _issued.Clear(); // a new run: the same commands (finish, execution timeout, approvals) may come again
        }

        Append(incoming);
        RunDecisions();
        return true;
    }

    /// <summary>The step's current attempt was started by a runner.</summary>
    public bool Started(string step, string runnerId = "runner-1") =>
        Deliver(new StepStarted(step, CurrentAttempt(step), runnerId));

    /// <summary>The step's current attempt succeeded.</summary>
    public bool Succeed(string step, IReadOnlyDictionary<string, string>? outputs = null, int exitCode = 0) =>
        Deliver(new StepSucceeded(step, CurrentAttempt(step), exitCode, outputs ?? ReadOnlyDictionary<string, string>.Empty));

    /// <summary>The step's current attempt failed.</summary>
    public bool Fail(string step, int? exitCode = 1, string error = "") =>
        Deliver(new StepFailed(step, CurrentAttempt(step), exitCode, error));

    /// <summary>The step's current attempt was stopped by its runner.</summary>
    public bool Cancelled(string step) => Deliver(new StepCancelled(step, CurrentAttempt(step)));

    /// <summary>The host fires a timer it stored (whether or not the core still considers it active).</summary>
    public bool FireTimer(string timerId)
    {
        _scheduledTimers.Remove(timerId);
        return Deliver(new TimerFired(timerId));
    }

    /// <summary>A user cancels the execution.</summary>
    public bool Cancel(string? reason = null) => Deliver(new CancelRequested(reason));

    /// <summary>A signal arrives (an approval).</summary>
    public bool Signal(string name, IReadOnlyDictionary<string, string>? payload = null) =>
        Deliver(new SignalReceived(name, payload ?? ReadOnlyDictionary<string, string>.Empty));

    /// <summary>A user retries the (failed) execution.</summary>
    public bool RetryExecution() => Deliver(new RetryRequested());

    /// <summary>The step's compensation job finished.</summary>
    public bool CompleteCompensation(string step, bool ok, string error = "compensation failed") =>
        Deliver(ok ? new CompensationSucceeded(step) : new CompensationFailed(step, error));

    /// <summary>The commands issued since the last call (the outbox a real host would relay).</summary>
    public IReadOnlyList<ExecutionCommand> TakeCommands()
    {
        var taken = _commands.GetRange(_taken, _commands.Count - _taken);
        _taken = _commands.Count;
        return taken;
    }

    /// <summary>The attempt a result for this step would carry now (1 for an unknown or never-dispatched step).</summary>
    public int CurrentAttempt(string step) => State.FindStep(step) is { Attempt: > 0 } s ? s.Attempt : 1;

    private void RunDecisions()
    {
        while (true)
        {
            var commands = Decider.Decide(State);
            if (commands.Count == 0)
            {
                return;
            }

            foreach (var command in commands)
            {
                if (!_issued.Add(command))
                {
                    throw new InvalidOperationException($"Decide returned {command} again after it was recorded");
                }

                _commands.Add(command);
                var recorded = Decider.Record(command);
                if (command is StartTimer { Jitter: true } timer && jitter is not null)
                {
                    recorded = new TimerScheduled(timer.TimerId, jitter(timer));
                }

                if (recorded is TimerScheduled scheduled)
                {
                    _scheduledTimers[scheduled.TimerId] = scheduled.Delay;
                }

                Append(recorded);
            }
        }
    }

    private void Append(ExecutionEvent e)
    {
        State = State.Apply(e);
        _history.Add(e);
    }
}

public sealed record RejectedEvent(ExecutionEvent Event, string Reason);
