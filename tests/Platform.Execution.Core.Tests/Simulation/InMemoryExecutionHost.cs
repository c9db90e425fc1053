using System.Collections.ObjectModel;

namespace Platform.Execution.Core.Tests.Simulation;

/// <summary>
/// Runs the core with the host-loop semantics every engine must have, in memory:
/// an external fact is recorded only if <see cref="Decider.Admits"/> says so; after every recorded fact the host
/// runs Decide → do the command → Record → Apply until Decide returns nothing.
/// </summary>
/// <remarks>
/// The reference host for scenario suites: a scenario drives it with <see cref="Start(ExecutionPlan)"/> and job
/// results, and reads <see cref="State"/>, <see cref="History"/> and the commands. "Doing" a command here means
/// handing it out through <see cref="TakeCommands"/> (an outbox). The host asserts the core's idempotence: a command
/// decided again after it was recorded throws.
/// </remarks>
public sealed class InMemoryExecutionHost
{
    private readonly List<ExecutionEvent> _history = [];
    private readonly List<ExecutionCommand> _commands = [];
    private readonly HashSet<ExecutionCommand> _issued = [];
    private readonly List<RejectedEvent> _rejected = [];
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

    /// <summary>The <see cref="FinishExecution"/> command, once issued.</summary>
    public FinishExecution? Finish => _commands.OfType<FinishExecution>().SingleOrDefault();

    /// <summary>Steps that are Dispatched or Running, in declaration order.</summary>
    public IReadOnlyList<string> ActiveSteps => State.Steps.Where(s => s.IsActive).Select(s => s.Name).ToList();

    public InMemoryExecutionHost Start(ExecutionPlan plan)
    {
        if (!Deliver(new ExecutionStarted(plan)))
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
                Append(Decider.Record(command));
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
