using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Platform.Execution.Core;

/// <summary>
/// The state of one execution: the fold of its events. Immutable; <see cref="Apply"/> returns a new state and shares
/// everything that did not change (the plan index, unchanged step states, the step array when no step changed).
/// </summary>
/// <remarks>
/// Equality is by reference. To compare two states (e.g. a replayed one with a live one), compare
/// <see cref="Status"/>, <see cref="Error"/> and the <see cref="Steps"/> field by field.
/// </remarks>
public sealed class ExecutionState
{
    private static readonly ImmutableDictionary<string, string> NoOutputs = ImmutableDictionary<string, string>.Empty;

    private readonly PlanIndex? _index;
    private readonly StepState[] _steps; // never mutated once the state is built

    private ExecutionState(ExecutionStatus status, string? error, PlanIndex? index, StepState[] steps, StepCounts counts)
    {
        Status = status;
        Error = error;
        _index = index;
        _steps = steps;
        Counts = counts;
        Steps = ImmutableCollectionsMarshal.AsImmutableArray(steps);
    }

    /// <summary>Before <see cref="ExecutionStarted"/>: status Pending, no steps.</summary>
    public static ExecutionState Initial { get; } = new(ExecutionStatus.Pending, null, null, [], default);

    public ExecutionStatus Status { get; }

    /// <summary>The error of <see cref="ExecutionFinished"/>, once finished.</summary>
    public string? Error { get; }

    /// <summary>The plan of <see cref="ExecutionStarted"/>; null before it.</summary>
    public ExecutionPlan? Plan => _index?.Plan;

    /// <summary>The steps in declaration order (empty before <see cref="ExecutionStarted"/>).</summary>
    public IReadOnlyList<StepState> Steps { get; }

    public bool IsStarted => _index is not null;

    /// <summary>Succeeded, Failed or Cancelled.</summary>
    public bool IsFinished => Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled;

    internal PlanIndex? Index => _index;

    internal ReadOnlySpan<StepState> StepSpan => _steps;

    internal StepCounts Counts { get; }

    public StepState? FindStep(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _index is not null && _index.TryGetPosition(name, out var position) ? _steps[position] : null;
    }

    /// <summary>Folds one event. Pure.</summary>
    /// <exception cref="InvalidOperationException">The event does not apply to this state (<see cref="Decider.Admits"/> is false); the message says why.</exception>
    public ExecutionState Apply(ExecutionEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e is ExecutionStarted started)
        {
            // Validated here rather than in Reject so that the plan index is built only once.
            if (IsStarted)
            {
                throw Rejected(e, "the execution has already started");
            }

            var index = PlanIndex.TryBuild(started.Plan, out var planError) ?? throw Rejected(e, planError!);
            return new ExecutionState(ExecutionStatus.Running, null, index, index.InitialSteps, new StepCounts(pending: index.Count));
        }

        var reason = Reject(e);
        if (reason is not null)
        {
            throw Rejected(e, reason);
        }

        switch (e)
        {
            case StepDispatched x:
                return WithStep(x.Step, static (s, x) => s with
                {
                    Status = StepStatus.Dispatched,
                    Attempt = x.Attempt,
                    RunnerId = null,
                    ExitCode = null,
                    Outputs = NoOutputs,
                    Error = null,
                }, x);
            case StepStarted x:
                return WithStep(x.Step, static (s, x) => s with { Status = StepStatus.Running, RunnerId = x.RunnerId }, x);
            case StepSucceeded x:
                return WithStep(x.Step, static (s, x) => s with
                {
                    Status = StepStatus.Succeeded,
                    ExitCode = x.ExitCode,
                    Outputs = Freeze(x.Outputs),
                    Error = null,
                }, x);
            case StepFailed x:
                return WithStep(x.Step, static (s, x) => s with
                {
                    Status = StepStatus.Failed,
                    ExitCode = x.ExitCode,
                    Outputs = NoOutputs,
                    Error = DescribeFailure(x.Error, x.ExitCode),
                }, x);
            case ExecutionFinished x:
                return Finish(x);
            default:
                throw Rejected(e, "unknown event type");
        }
    }

    /// <summary>Folds events from <see cref="Initial"/>.</summary>
    public static ExecutionState Fold(IEnumerable<ExecutionEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var state = Initial;
        foreach (var e in events)
        {
            state = state.Apply(e);
        }

        return state;
    }

    /// <summary>Why the event does not apply to this state, or null when it does. Shared by Apply and Decider.Admits.</summary>
    internal string? Reject(ExecutionEvent e)
    {
        switch (e)
        {
            case ExecutionStarted started:
                if (IsStarted)
                {
                    return "the execution has already started";
                }

                _ = PlanIndex.TryBuild(started.Plan, out var planError);
                return planError;

            case ExecutionFinished finished:
                if (RejectExecution() is { } notRunning)
                {
                    return notRunning;
                }

                return finished.Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled
                    ? null
                    : $"an execution cannot finish with status {finished.Status}";

            case StepDispatched x:
                if (RejectStep(x.Step, out var step) is { } r1)
                {
                    return r1;
                }

                if (step.Status != StepStatus.Pending)
                {
                    return $"step '{x.Step}' is {step.Status}, not Pending";
                }

                return x.Attempt == step.Attempt + 1
                    ? null
                    : $"step '{x.Step}' can be dispatched as attempt {step.Attempt + 1}, not {x.Attempt}";

            case StepStarted x:
                if (RejectStep(x.Step, out step) is { } r2)
                {
                    return r2;
                }

                if (RejectAttempt(step, x.Attempt) is { } r3)
                {
                    return r3;
                }

                return step.Status == StepStatus.Dispatched
                    ? null
                    : $"step '{x.Step}' attempt {x.Attempt} is {step.Status}, not Dispatched";

            case StepSucceeded x:
                return RejectResult(x.Step, x.Attempt);

            case StepFailed x:
                return RejectResult(x.Step, x.Attempt);

            case null:
                throw new ArgumentNullException(nameof(e));

            default:
                return $"unknown event type {e.GetType().Name}";
        }
    }

    private string? RejectResult(string name, int attempt)
    {
        if (RejectStep(name, out var step) is { } reason)
        {
            return reason;
        }

        if (RejectAttempt(step, attempt) is { } wrongAttempt)
        {
            return wrongAttempt;
        }

        return step.IsActive ? null : $"step '{name}' attempt {attempt} is {step.Status}, not Dispatched or Running";
    }

    private static string? RejectAttempt(StepState step, int attempt) =>
        attempt == step.Attempt ? null : $"step '{step.Name}' is at attempt {step.Attempt}, not {attempt}";

    private string? RejectExecution() =>
        !IsStarted ? "the execution has not started"
        : IsFinished ? $"the execution has already finished ({Status})"
        : null;

    private string? RejectStep(string? name, out StepState step)
    {
        step = null!;
        if (RejectExecution() is { } reason)
        {
            return reason;
        }

        if (name is null || !_index!.TryGetPosition(name, out var position))
        {
            return $"the execution has no step '{name}'";
        }

        step = _steps[position];
        return null;
    }

    // A static lambda plus its argument: no closure is allocated per event.
    private ExecutionState WithStep<TEvent>(string name, Func<StepState, TEvent, StepState> change, TEvent e)
    {
        _index!.TryGetPosition(name, out var position);
        var before = _steps[position];
        var after = change(before, e);
        var steps = (StepState[])_steps.Clone();
        steps[position] = after;
        return new ExecutionState(Status, Error, _index, steps, Counts.Move(before.Status, after.Status));
    }

    private ExecutionState Finish(ExecutionFinished finished)
    {
        var steps = _steps;
        var counts = Counts;
        if (counts.Pending > 0)
        {
            steps = (StepState[])_steps.Clone();
            for (var i = 0; i < steps.Length; i++)
            {
                if (steps[i].Status == StepStatus.Pending)
                {
                    steps[i] = steps[i] with { Status = StepStatus.Skipped };
                    counts = counts.Move(StepStatus.Pending, StepStatus.Skipped);
                }
            }
        }

        return new ExecutionState(finished.Status, finished.Error, _index, steps, counts);
    }

    private static IReadOnlyDictionary<string, string> Freeze(IReadOnlyDictionary<string, string>? outputs) => outputs switch
    {
        null => NoOutputs,
        ImmutableDictionary<string, string> immutable => immutable,
        FrozenDictionary<string, string> frozen => frozen,
        { Count: 0 } => NoOutputs,
        _ => ImmutableDictionary.CreateRange(StringComparer.Ordinal, outputs),
    };

    /// <summary>The error text kept for a failed step: the given error, else its exit code.</summary>
    internal static string DescribeFailure(string? error, int? exitCode) =>
        !string.IsNullOrWhiteSpace(error) ? error
        : exitCode is { } code ? $"exit code {code}"
        : "no error given";

    private static InvalidOperationException Rejected(ExecutionEvent e, string reason) =>
        new($"{e.GetType().Name} does not apply: {reason}.");
}

/// <summary>How many steps are in each status that the decider asks about, kept up to date by Apply.</summary>
internal readonly record struct StepCounts(int Pending, int Active, int Succeeded, int Failed, int Other)
{
    public StepCounts(int pending)
        : this(pending, 0, 0, 0, 0)
    {
    }

    public StepCounts Move(StepStatus from, StepStatus to) => from == to ? this : Add(from, -1).Add(to, 1);

    private StepCounts Add(StepStatus status, int delta) => status switch
    {
        StepStatus.Pending => this with { Pending = Pending + delta },
        StepStatus.Dispatched or StepStatus.Running => this with { Active = Active + delta },
        StepStatus.Succeeded => this with { Succeeded = Succeeded + delta },
        StepStatus.Failed => this with { Failed = Failed + delta },
        _ => this with { Other = Other + delta },
    };
}
