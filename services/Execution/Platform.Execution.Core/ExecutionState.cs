using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Platform.Workflow.Expressions;

namespace Platform.Execution.Core;

/// <summary>
/// The state of one execution: the fold of its events. Immutable; <see cref="Apply"/> returns a new state and shares
/// everything that did not change (the plan index, unchanged step states, the step array when no step changed).
/// </summary>
/// <remarks>
/// Equality is by reference. To compare two states (e.g. a replayed one with a live one), compare
/// <see cref="Status"/>, <see cref="Error"/>, <see cref="Timers"/> and the <see cref="Steps"/> field by field.
/// <para>
/// Phases of a Running execution: <b>normal</b>; <b>failing</b> (a step failed for good without
/// <c>continue_on_failure</c>: nothing new starts, retries and approvals stop, the active attempts are awaited);
/// <b>stopping</b> (<see cref="IsStopping"/>: cancelled, or the execution timeout fired: every active job is cancelled and
/// awaited). Then, when it ends Failed or Cancelled with succeeded steps to compensate, status
/// <see cref="ExecutionStatus.Compensating"/>; then finished.
/// </para>
/// </remarks>
public sealed class ExecutionState
{
    private static readonly ImmutableDictionary<string, string> NoOutputs = ImmutableDictionary<string, string>.Empty;

    private readonly PlanIndex? _index;
    private readonly StepState[] _steps; // never mutated once the state is built

    private ExecutionState(ExecutionStatus status, string? error, PlanIndex? index, StepState[] steps, StepCounts counts, RunData run)
    {
        Status = status;
        Error = error;
        _index = index;
        _steps = steps;
        Counts = counts;
        Run = run;
        Steps = ImmutableCollectionsMarshal.AsImmutableArray(steps);
    }

    /// <summary>Before <see cref="ExecutionStarted"/>: status Pending, no steps.</summary>
    public static ExecutionState Initial { get; } = new(ExecutionStatus.Pending, null, null, [], default, RunData.Empty);

    public ExecutionStatus Status { get; }

    /// <summary>The error of <see cref="ExecutionFinished"/>, once finished.</summary>
    public string? Error { get; }

    /// <summary>The plan of <see cref="ExecutionStarted"/>; null before it.</summary>
    public ExecutionPlan? Plan => _index?.Plan;

    /// <summary>
    /// The input of <see cref="ExecutionStarted"/> (a private copy); null when it had none, and before it. What
    /// <c>inputs.*</c> reads in <c>if:</c> conditions.
    /// </summary>
    /// <remarks>
    /// A condition reads the input and the steps: <c>steps.&lt;name&gt;.status</c> is the lower-case name of the
    /// step's <see cref="StepStatus"/> ('succeeded', 'failed' — also when continued on failure —, 'skipped',
    /// 'cancelled', 'running', ...), <c>steps.&lt;name&gt;.outputs</c> its <see cref="StepState.Outputs"/>. A step that
    /// is Pending (it has not run in this run) or unknown reads as null (status and outputs null), as the expression
    /// library expects. Definitions lets a condition read only the step's ancestors, which are done by then.
    /// </remarks>
    public JsonElement? Inputs => _index?.Inputs;

    /// <summary>The steps in declaration order (empty before <see cref="ExecutionStarted"/>).</summary>
    public IReadOnlyList<StepState> Steps { get; }

    public bool IsStarted => _index is not null;

    /// <summary>Succeeded, Failed or Cancelled.</summary>
    public bool IsFinished => Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled;

    /// <summary>
    /// Cancelled (<see cref="CancelRequested"/>) or timed out (the execution timeout fired), and not finished yet: the
    /// active jobs are being cancelled; then compensation, then the end.
    /// </summary>
    public bool IsStopping => Run.Stop != StopKind.None && !IsFinished;

    /// <summary>
    /// The active timers by id (ordinal order): scheduled (<see cref="TimerScheduled"/>), not fired and still meaningful.
    /// A timer whose reason went away (the attempt ended, the approval came, the step stopped retrying, the execution
    /// is stopping or compensating or finished) is dropped: its <see cref="TimerFired"/> is refused.
    /// </summary>
    public IReadOnlyDictionary<string, TimerState> Timers => Run.Timers;

    /// <summary>The steps in the order they succeeded (<see cref="StepSucceeded"/>, or <see cref="SignalReceived"/> for an approval).</summary>
    public IReadOnlyList<string> CompletionOrder => Run.Completions.Select(i => _steps[i].Name).ToList();

    internal PlanIndex? Index => _index;

    internal ReadOnlySpan<StepState> StepSpan => _steps;

    internal StepCounts Counts { get; }

    internal RunData Run { get; }

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

            var index = PlanIndex.TryBuild(started.Plan, started.Input, out var planError) ?? throw Rejected(e, planError!);
            return new ExecutionState(ExecutionStatus.Running, null, index, index.InitialSteps, new StepCounts(pending: index.Count), RunData.Empty);
        }

        var reason = Reject(e);
        if (reason is not null)
        {
            throw Rejected(e, reason);
        }

        var edit = new Edit(this);
        switch (e)
        {
            case StepDispatched x:
                edit.Set(Position(x.Step), edit.Step(x.Step) with
                {
                    Status = StepStatus.Dispatched,
                    Attempt = x.Attempt,
                    RunnerId = null,
                    ExitCode = null,
                    Outputs = NoOutputs,
                    Error = null,
                    Cancelling = false,
                    ContinuedOnFailure = false,
                });
                break;
            case StepStarted x:
                edit.Set(Position(x.Step), edit.Step(x.Step) with { Status = StepStatus.Running, RunnerId = x.RunnerId });
                break;
            case StepSucceeded x:
                edit.EndAttempt(Position(x.Step));
                edit.Succeed(Position(x.Step), x.ExitCode, x.Outputs);
                break;
            case StepFailed x when edit.Step(x.Step).Status == StepStatus.Pending:
                // FailStep: the condition does not parse or cannot be evaluated. Not an attempt; never retried.
                edit.FailAttempt(Position(x.Step), DescribeFailure(x.Error, null), null, retryable: false);
                break;
            case StepFailed x:
                edit.EndAttempt(Position(x.Step));
                edit.FailAttempt(Position(x.Step), DescribeFailure(x.Error, x.ExitCode), x.ExitCode, retryable: true);
                break;
            case StepSkipped x:
                edit.Set(Position(x.Step), edit.Step(x.Step) with { Status = StepStatus.Skipped, SkipReason = x.Reason });
                break;
            case StepCancelled x:
                edit.EndAttempt(Position(x.Step));
                if (edit.Step(x.Step).Cancelling || Run.Stop != StopKind.None)
                {
                    edit.Set(Position(x.Step), edit.Step(x.Step) with { Status = StepStatus.Cancelled, Cancelling = false });
                }
                else
                {
                    // Nobody asked: the runner stopped it (drained, lost its lease). A failed attempt like any other.
                    edit.FailAttempt(Position(x.Step), "the job was cancelled on its runner", null, retryable: true);
                }

                break;
            case ExecutionFinished x:
                edit.Finish(x.Status, x.Error);
                break;
            case TimerScheduled x:
                edit.Schedule(x.TimerId, x.Delay);
                break;
            case TimerFired x:
                edit.Fire(x.TimerId);
                break;
            case JobCancelRequested x:
                edit.CancelRequestedFor(Position(x.Step), x.Attempt);
                break;
            case ApprovalRequested x:
                var waiting = edit.Step(x.Step);
                edit.Set(Position(x.Step), waiting with
                {
                    Status = StepStatus.Waiting,
                    Attempt = waiting.Attempt + 1,
                    RunnerId = null,
                    ExitCode = null,
                    Outputs = NoOutputs,
                    Error = null,
                    ContinuedOnFailure = false,
                });
                break;
            case SignalReceived x:
                edit.RemoveTimer(TimerIds.ApprovalTimeout(x.Name));
                edit.Succeed(Position(x.Name), null, x.Payload);
                break;
            case CancelRequested x:
                edit.Stop(StopKind.Cancel, x.Reason);
                break;
            case RetryRequested:
                edit.Restart();
                break;
            case CompensationDispatched x:
                edit.StartCompensation(Position(x.Step));
                break;
            case CompensationSucceeded x:
                edit.Set(Position(x.Step), edit.Step(x.Step) with { Compensation = CompensationStatus.Succeeded, CompensationError = null });
                break;
            case CompensationFailed x:
                edit.Set(Position(x.Step), edit.Step(x.Step) with
                {
                    Compensation = CompensationStatus.Failed,
                    CompensationError = string.IsNullOrWhiteSpace(x.Error) ? "no error given" : x.Error,
                });
                break;
            default:
                throw Rejected(e, "unknown event type");
        }

        return edit.Build();
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

                return PlanIndex.Validate(started.Plan);

            case ExecutionFinished finished:
                if (RejectExecution() is { } notRunning)
                {
                    return notRunning;
                }

                return finished.Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled
                    ? null
                    : $"an execution cannot finish with status {finished.Status}";

            case StepDispatched x:
                if (RejectStep(x.Step, out var step, out var rules) is { } r1)
                {
                    return r1;
                }

                if (Status != ExecutionStatus.Running)
                {
                    return $"the execution is {Status}";
                }

                if (rules.Kind != StepKind.Agent)
                {
                    return $"step '{x.Step}' is an approval step: it waits for a signal, it is not dispatched";
                }

                if (step.Status != StepStatus.Pending)
                {
                    return $"step '{x.Step}' is {step.Status}, not Pending";
                }

                return x.Attempt == step.Attempt + 1
                    ? null
                    : $"step '{x.Step}' can be dispatched as attempt {step.Attempt + 1}, not {x.Attempt}";

            case StepStarted x:
                if (RejectStep(x.Step, out step, out _) is { } r2)
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
                return IsPendingWithCondition(x.Step) ? RejectConditionFailure(x) : RejectResult(x.Step, x.Attempt);

            case StepSkipped x:
                if (RejectConditionDue(x.Step, out var skipping) is { } r12)
                {
                    return r12;
                }

                return JudgeCondition(skipping).Outcome switch
                {
                    ConditionOutcome.Skip => null,
                    ConditionOutcome.Run => $"the condition of step '{x.Step}' is true: the step runs",
                    _ => $"the condition of step '{x.Step}' is not valid: the step fails",
                };

            case StepCancelled x:
                return RejectResult(x.Step, x.Attempt);

            case TimerScheduled x:
                if (RejectExecution() is { } r4)
                {
                    return r4;
                }

                return x.Delay < TimeSpan.Zero ? $"timer '{x.TimerId}' has a negative delay" : RejectTimerRequest(x.TimerId);

            case TimerFired x:
                if (RejectExecution() is { } r5)
                {
                    return r5;
                }

                return x.TimerId is not null && Run.Timers.ContainsKey(x.TimerId)
                    ? null
                    : $"timer '{x.TimerId}' is not active";

            case JobCancelRequested x:
                if (RejectStep(x.Step, out step, out _) is { } r6)
                {
                    return r6;
                }

                if (Run.OwedCancels.Contains(new StepAttempt(Position(x.Step), x.Attempt)))
                {
                    return null;
                }

                if (Run.Stop == StopKind.None)
                {
                    return $"no cancel of step '{x.Step}' attempt {x.Attempt} is due";
                }

                if (RejectAttempt(step, x.Attempt) is { } r7)
                {
                    return r7;
                }

                return !step.IsActive ? $"step '{x.Step}' attempt {x.Attempt} is {step.Status}, not Dispatched or Running"
                    : step.Cancelling ? $"the cancel of step '{x.Step}' attempt {x.Attempt} was already requested"
                    : null;

            case ApprovalRequested x:
                if (RejectStep(x.Step, out step, out rules) is { } r8)
                {
                    return r8;
                }

                if (Status != ExecutionStatus.Running)
                {
                    return $"the execution is {Status}";
                }

                if (rules.Kind != StepKind.Approval)
                {
                    return $"step '{x.Step}' is not an approval step";
                }

                return step.Status == StepStatus.Pending ? null : $"step '{x.Step}' is {step.Status}, not Pending";

            case SignalReceived x:
                if (RejectStep(x.Name, out step, out rules) is { } r9)
                {
                    return r9;
                }

                if (rules.Kind != StepKind.Approval)
                {
                    return $"step '{x.Name}' is not an approval step";
                }

                return step.Status == StepStatus.Waiting ? null : $"approval step '{x.Name}' is {step.Status}, not Waiting";

            case CancelRequested:
                if (RejectExecution() is { } r10)
                {
                    return r10;
                }

                return Status == ExecutionStatus.Compensating ? "the execution is already compensating"
                    : Run.Stop == StopKind.Cancel ? "the execution is already being cancelled"
                    : Run.Stop == StopKind.Timeout ? "the execution timed out and is already being stopped"
                    : null;

            case RetryRequested:
                return !IsStarted ? "the execution has not started"
                    : Status != ExecutionStatus.Failed ? $"only a Failed execution can be retried; this one is {Status}"
                    : null;

            case CompensationDispatched x:
                if (RejectStep(x.Step, out _, out _) is { } r11)
                {
                    return r11;
                }

                var next = NextCompensation();
                return next >= 0 && _steps[next].Name == x.Step
                    ? null
                    : $"step '{x.Step}' is not the next step to compensate";

            case CompensationSucceeded x:
                return RejectCompensationResult(x.Step);

            case CompensationFailed x:
                return RejectCompensationResult(x.Step);

            case null:
                throw new ArgumentNullException(nameof(e));

            default:
                return $"unknown event type {e.GetType().Name}";
        }
    }

    /// <summary>
    /// The outcome the execution ends with if it is at its end now (nothing more to start, wait for or cancel), before
    /// compensation; null while it is not. Only for a Running execution.
    /// </summary>
    internal (ExecutionStatus Status, string? Error)? Ending()
    {
        if (Status != ExecutionStatus.Running || _index is null || Run.OwedCancels.Count > 0)
        {
            return null;
        }

        var counts = Counts;
        if (Run.Stop != StopKind.None || counts.Failed > 0)
        {
            // Settled: nothing Waiting or Retrying any more; Pending steps will be Skipped.
            return counts.Active == 0 ? Outcome() : null;
        }

        if (counts.Done == _steps.Length)
        {
            return (ExecutionStatus.Succeeded, null);
        }

        // Nothing out and nothing ready: unreachable for a validated plan, kept so that an execution never hangs.
        return counts.Active + counts.Waiting + counts.Retrying == 0 && !AnyReady() ? Outcome() : null;
    }

    /// <summary>
    /// What the <c>if:</c> condition of the step at <paramref name="position"/> says now: Run (true, or no
    /// condition), Skip (false; the text is the skip reason) or Fail (does not parse, or cannot be evaluated; the text
    /// is the step's error). Pure: the condition was parsed once with the plan.
    /// </summary>
    internal ConditionVerdict JudgeCondition(int position)
    {
        var rules = _index!.Rules[position];
        if (rules.Condition is null)
        {
            return new ConditionVerdict(ConditionOutcome.Run, null);
        }

        if (rules.ConditionError is { } invalid)
        {
            return new ConditionVerdict(ConditionOutcome.Fail, invalid);
        }

        var condition = rules.ParsedCondition!;
        bool value;
        try
        {
            value = condition.EvaluateCondition(new ConditionContext(this));
        }
        catch (Exception e)
        {
            // The library promises a value for every parsed expression; should it ever throw, the step fails rather
            // than the execution getting stuck (the same exception on every replay).
            return new ConditionVerdict(ConditionOutcome.Fail, "condition could not be evaluated: " + e.Message);
        }

        return value
            ? new ConditionVerdict(ConditionOutcome.Run, null)
            : new ConditionVerdict(ConditionOutcome.Skip, "condition is false: " + condition.Text);
    }

    /// <summary>How the execution ends, judged from the steps and the stop (not from compensation).</summary>
    internal (ExecutionStatus Status, string? Error) Outcome() =>
        Run.Stop switch
        {
            StopKind.Cancel => (ExecutionStatus.Cancelled, Run.StopReason),
            StopKind.Timeout => (ExecutionStatus.Failed, $"execution timed out after {Durations.Format(_index!.Timeout ?? TimeSpan.Zero)}"),
            _ when Counts.Failed > 0 => (ExecutionStatus.Failed, DescribeFailures()),
            _ when Counts.Done == _steps.Length => (ExecutionStatus.Succeeded, null),
            _ => (ExecutionStatus.Failed, "no step can run: no step is running and no pending step has its dependencies met"),
        };

    /// <summary>
    /// The next step to compensate, or -1: the latest-completed succeeded step with a compensation that has not been
    /// compensated (while Running at its end) or whose turn has not come (while Compensating, once none is running).
    /// </summary>
    internal int NextCompensation()
    {
        CompensationStatus wanted;
        if (Status == ExecutionStatus.Compensating)
        {
            if (CompensationRunning())
            {
                return -1;
            }

            wanted = CompensationStatus.Pending;
        }
        else if (Ending() is { Status: not ExecutionStatus.Succeeded })
        {
            wanted = CompensationStatus.None;
        }
        else
        {
            return -1;
        }

        var rules = _index!.Rules;
        var completions = Run.Completions;
        for (var k = completions.Count - 1; k >= 0; k--)
        {
            var i = completions[k];
            var step = _steps[i];
            if (step.Status == StepStatus.Succeeded && rules[i].HasCompensation && step.Compensation == wanted)
            {
                return i;
            }
        }

        return -1;
    }

    internal bool CompensationRunning()
    {
        foreach (var step in _steps)
        {
            if (step.Compensation == CompensationStatus.Running)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The finish error: the outcome's error, then every failed compensation in compensation order.</summary>
    internal string? FinishError(string? error)
    {
        StringBuilder? text = null;
        var completions = Run.Completions;
        for (var k = completions.Count - 1; k >= 0; k--)
        {
            var step = _steps[completions[k]];
            if (step.Compensation == CompensationStatus.Failed)
            {
                text ??= new StringBuilder(error);
                if (text.Length > 0)
                {
                    text.Append("; ");
                }

                text.Append("compensation of step '").Append(step.Name).Append("' failed: ").Append(step.CompensationError);
            }
        }

        return text?.ToString() ?? error;
    }

    internal int RunBase(int position) => Run.RunBase is { } bases ? bases[position] : 0;

    private bool AnyReady()
    {
        var dependencies = _index!.Dependencies;
        for (var i = 0; i < _steps.Length; i++)
        {
            if (_steps[i].Status == StepStatus.Pending && DependenciesMet(_steps, dependencies[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Succeeded, Skipped, or failed with <c>continue_on_failure</c>: dependents may start.</summary>
    internal static bool DependenciesMet(ReadOnlySpan<StepState> steps, int[] dependencies)
    {
        foreach (var d in dependencies)
        {
            var status = steps[d].Status;
            if (status is not (StepStatus.Succeeded or StepStatus.Skipped)
                && !(status == StepStatus.Failed && steps[d].ContinuedOnFailure))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>"step 'build' failed: exit code 2"; several failures in declaration order, joined with "; ". Continued failures are left out.</summary>
    private string DescribeFailures()
    {
        var text = new StringBuilder();
        foreach (var step in _steps)
        {
            if (step.Status == StepStatus.Failed && !step.ContinuedOnFailure)
            {
                if (text.Length > 0)
                {
                    text.Append("; ");
                }

                text.Append("step '").Append(step.Name).Append("' failed: ").Append(step.Error);
            }
        }

        return text.ToString();
    }

    private string? RejectTimerRequest(string? timerId)
    {
        if (!TimerIds.TryParse(timerId, out var purpose, out var name, out var attempt))
        {
            return $"'{timerId}' is not a timer id";
        }

        if (Run.Timers.ContainsKey(timerId!))
        {
            return $"timer '{timerId}' is already active";
        }

        if (Status != ExecutionStatus.Running)
        {
            return $"the execution is {Status}";
        }

        if (purpose == TimerPurpose.ExecutionTimeout)
        {
            return _index!.Timeout is null ? "the plan has no execution timeout"
                : Run.Stop != StopKind.None ? "the execution is stopping"
                : Run.ExecutionTimerScheduled ? "the execution timeout was already scheduled"
                : null;
        }

        if (RejectStep(name, out var step, out var rules) is { } reason)
        {
            return reason;
        }

        return purpose switch
        {
            TimerPurpose.Retry when step.Status != StepStatus.Retrying => $"step '{name}' is {step.Status}, not Retrying",
            TimerPurpose.Retry when attempt != step.Attempt + 1 => $"step '{name}' retries as attempt {step.Attempt + 1}, not {attempt}",
            TimerPurpose.AttemptTimeout when rules.Timeout is null || rules.Kind != StepKind.Agent => $"step '{name}' has no attempt timeout",
            TimerPurpose.AttemptTimeout when !step.IsActive || step.Attempt != attempt => $"step '{name}' attempt {attempt} is not Dispatched or Running",
            TimerPurpose.ApprovalTimeout when rules.Timeout is null || rules.Kind != StepKind.Approval => $"step '{name}' has no approval timeout",
            TimerPurpose.ApprovalTimeout when step.Status != StepStatus.Waiting => $"approval step '{name}' is {step.Status}, not Waiting",
            _ => null,
        };
    }

    private string? RejectResult(string name, int attempt)
    {
        if (RejectStep(name, out var step, out _) is { } reason)
        {
            return reason;
        }

        if (RejectAttempt(step, attempt) is { } wrongAttempt)
        {
            return wrongAttempt;
        }

        return step.IsActive ? null : $"step '{name}' attempt {attempt} is {step.Status}, not Dispatched or Running";
    }

    private string? RejectCompensationResult(string name)
    {
        if (RejectStep(name, out var step, out _) is { } reason)
        {
            return reason;
        }

        return step.Compensation == CompensationStatus.Running && Status == ExecutionStatus.Compensating
            ? null
            : $"the compensation of step '{name}' is {step.Compensation}, not Running";
    }

    /// <summary>
    /// Why the step's condition is not to be judged now, or null when it is (the step's position in
    /// <paramref name="position"/>): the execution is Running in its normal phase, the step has a condition, is Pending
    /// with its dependencies met, and has not been tried in this run (a step Pending again for its retry was judged).
    /// </summary>
    private string? RejectConditionDue(string? name, out int position)
    {
        position = -1;
        if (RejectStep(name, out var step, out var rules) is { } reason)
        {
            return reason;
        }

        position = Position(name!);
        return Status != ExecutionStatus.Running ? $"the execution is {Status}"
            : Run.Stop != StopKind.None ? "the execution is stopping"
            : Counts.Failed > 0 ? "a step failed: no step starts"
            : rules.Condition is null ? $"step '{name}' has no condition"
            : step.Status != StepStatus.Pending ? $"step '{name}' is {step.Status}, not Pending"
            : step.Attempt != RunBase(position) ? $"step '{name}' was already tried in this run: its condition held"
            : !DependenciesMet(_steps, _index!.Dependencies[position]) ? $"step '{name}' is not ready: its dependencies are not done"
            : null;
    }

    private bool IsPendingWithCondition(string? name) =>
        name is not null
        && _index is not null
        && _index.TryGetPosition(name, out var position)
        && _steps[position].Status == StepStatus.Pending
        && _index.Rules[position].Condition is not null;

    /// <summary>A <see cref="StepFailed"/> for a Pending step with a condition: only as the record of <see cref="FailStep"/>.</summary>
    private string? RejectConditionFailure(StepFailed x)
    {
        if (RejectConditionDue(x.Step, out var position) is { } reason)
        {
            return reason;
        }

        var step = _steps[position];
        return x.Attempt != step.Attempt ? $"step '{x.Step}' did not run: its failure names attempt {step.Attempt}, not {x.Attempt}"
            : x.ExitCode is not null ? $"step '{x.Step}' did not run: its failure has no exit code"
            : JudgeCondition(position).Outcome != ConditionOutcome.Fail ? $"step '{x.Step}' is Pending and its condition is valid: it has not run, so it cannot fail"
            : null;
    }

    private static string? RejectAttempt(StepState step, int attempt) =>
        attempt == step.Attempt ? null : $"step '{step.Name}' is at attempt {step.Attempt}, not {attempt}";

    private string? RejectExecution() =>
        !IsStarted ? "the execution has not started"
        : IsFinished ? $"the execution has already finished ({Status})"
        : null;

    private string? RejectStep(string? name, out StepState step, out StepRules rules)
    {
        step = null!;
        rules = null!;
        if (RejectExecution() is { } reason)
        {
            return reason;
        }

        if (name is null || !_index!.TryGetPosition(name, out var position))
        {
            return $"the execution has no step '{name}'";
        }

        step = _steps[position];
        rules = _index.Rules[position];
        return null;
    }

    private int Position(string name)
    {
        _index!.TryGetPosition(name, out var position);
        return position;
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

    /// <summary>
    /// One Apply in progress: copies the step array on the first change, keeps the counts and the run data up to date,
    /// and builds the next state. Used once and dropped.
    /// </summary>
    private sealed class Edit(ExecutionState from)
    {
        private readonly PlanIndex _index = from._index!;
        private StepState[] _steps = from._steps;
        private bool _copied;
        private StepCounts _counts = from.Counts;
        private RunData _run = from.Run;
        private ExecutionStatus _status = from.Status;
        private string? _error = from.Error;

        public StepState Step(string name)
        {
            _index.TryGetPosition(name, out var position);
            return _steps[position];
        }

        public void Set(int position, StepState after)
        {
            if (!_copied)
            {
                _steps = (StepState[])_steps.Clone();
                _copied = true;
            }

            _counts = _counts.Move(_steps[position], after);
            _steps[position] = after;
        }

        public ExecutionState Build() => new(_status, _error, _index, _steps, _counts, _run);

        public void RemoveTimer(string id)
        {
            if (_run.Timers.ContainsKey(id))
            {
                _run = _run with { Timers = _run.Timers.Remove(id) };
            }
        }

        /// <summary>The current attempt ended (result or cancel): its timeout no longer applies.</summary>
        public void EndAttempt(int position)
        {
            var step = _steps[position];
            if (_index.Rules[position].Timeout is not null)
            {
                RemoveTimer(TimerIds.AttemptTimeout(step.Name, step.Attempt));
            }
        }

        public void Succeed(int position, int? exitCode, IReadOnlyDictionary<string, string> outputs)
        {
            Set(position, _steps[position] with
            {
                Status = StepStatus.Succeeded,
                ExitCode = exitCode,
                Outputs = Freeze(outputs),
                Error = null,
                Cancelling = false,
            });
            _run = _run with { Completions = _run.Completions.Add(position) };
        }

        /// <summary>
        /// An attempt failed: Retrying if the policy allows it and the execution is in its normal phase; else Failed
        /// for good, which (without continue_on_failure) starts the failing phase.
        /// </summary>
        public void FailAttempt(int position, string error, int? exitCode, bool retryable)
        {
            var step = _steps[position];
            var rules = _index.Rules[position];
            var normal = _run.Stop == StopKind.None && _counts.Failed == 0;
            var attemptsThisRun = step.Attempt - (_run.RunBase is { } bases ? bases[position] : 0);
            if (retryable
                && normal
                && rules.Retry is { } policy
                && attemptsThisRun < policy.MaxAttempts
                && !(exitCode is { } code && Array.IndexOf(rules.NonRetryableExitCodes, code) >= 0))
            {
                Set(position, step with
                {
                    Status = StepStatus.Retrying,
                    ExitCode = exitCode,
                    Outputs = NoOutputs,
                    Error = error,
                    Cancelling = false,
                });
                return;
            }

            Set(position, step with
            {
                Status = StepStatus.Failed,
                ExitCode = exitCode,
                Outputs = NoOutputs,
                Error = error,
                Cancelling = false,
                ContinuedOnFailure = rules.ContinueOnFailure,
            });
            Settle();
        }

        /// <summary>
        /// Failing or stopping: steps Retrying stop retrying (Failed when failing, Cancelled when stopping), approvals
        /// stop waiting (Cancelled), and when stopping Pending steps are Cancelled too. Their timers are dropped.
        /// </summary>
        public void Settle()
        {
            var stopping = _run.Stop != StopKind.None;
            if (!stopping && _counts.Failed == 0)
            {
                return;
            }

            if (_counts.Waiting + _counts.Retrying + (stopping ? _counts.Pending : 0) == 0)
            {
                return;
            }

            for (var i = 0; i < _steps.Length; i++)
            {
                var step = _steps[i];
                switch (step.Status)
                {
                    case StepStatus.Retrying:
                        RemoveTimer(TimerIds.Retry(step.Name, step.Attempt + 1));
                        Set(i, stopping
                            ? step with { Status = StepStatus.Cancelled }
                            : step with { Status = StepStatus.Failed, ContinuedOnFailure = _index.Rules[i].ContinueOnFailure });
                        break;
                    case StepStatus.Waiting:
                        RemoveTimer(TimerIds.ApprovalTimeout(step.Name));
                        Set(i, step with { Status = StepStatus.Cancelled });
                        break;
                    case StepStatus.Pending when stopping:
                        Set(i, step with { Status = StepStatus.Cancelled });
                        break;
                }
            }
        }

        public void Stop(StopKind kind, string? reason)
        {
            _run = _run with { Stop = kind, StopReason = reason };
            RemoveTimer(TimerIds.ExecutionTimeout);
            Settle();
        }

        public void Schedule(string id, TimeSpan delay)
        {
            TimerIds.TryParse(id, out var purpose, out var step, out var attempt);
            var timer = new TimerState(purpose, delay, step, attempt > 0 ? attempt : null);
            _run = _run with
            {
                Timers = _run.Timers.Add(id, timer),
                ExecutionTimerScheduled = _run.ExecutionTimerScheduled || purpose == TimerPurpose.ExecutionTimeout,
            };
        }

        public void Fire(string id)
        {
            var timer = _run.Timers[id];
            RemoveTimer(id);
            if (timer.Purpose == TimerPurpose.ExecutionTimeout)
            {
                Stop(StopKind.Timeout, null);
                return;
            }

            _index.TryGetPosition(timer.Step!, out var position);
            var step = _steps[position];
            var limit = _index.Rules[position].Timeout ?? timer.Delay;
            switch (timer.Purpose)
            {
                case TimerPurpose.Retry:
                    // Pending again (attempt kept): the decider dispatches the next attempt.
                    Set(position, step with { Status = StepStatus.Pending });
                    break;
                case TimerPurpose.AttemptTimeout:
                    if (!step.Cancelling)
                    {
                        _run = _run with { OwedCancels = _run.OwedCancels.Add(new StepAttempt(position, step.Attempt)) };
                    }

                    FailAttempt(position, $"timed out after {Durations.Format(limit)}", null, retryable: true);
                    break;
                case TimerPurpose.ApprovalTimeout:
                    FailAttempt(position, $"no approval within {Durations.Format(limit)}", null, retryable: false);
                    break;
            }
        }

        public void CancelRequestedFor(int position, int attempt)
        {
            var owed = new StepAttempt(position, attempt);
            if (_run.OwedCancels.Contains(owed))
            {
                _run = _run with { OwedCancels = _run.OwedCancels.Remove(owed) };
                return;
            }

            Set(position, _steps[position] with { Cancelling = true });
        }

        public void StartCompensation(int position)
        {
            if (_status == ExecutionStatus.Running)
            {
                _status = ExecutionStatus.Compensating;
                _run = _run with { Timers = RunData.NoTimers };
                var rules = _index.Rules;
                for (var i = 0; i < _steps.Length; i++)
                {
                    var step = _steps[i];
                    if (step.Status == StepStatus.Succeeded && rules[i].HasCompensation && step.Compensation == CompensationStatus.None)
                    {
                        Set(i, step with { Compensation = CompensationStatus.Pending });
                    }
                }
            }

            Set(position, _steps[position] with { Compensation = CompensationStatus.Running });
        }

        public void Finish(ExecutionStatus status, string? error)
        {
            for (var i = 0; i < _steps.Length; i++)
            {
                var step = _steps[i];
                switch (step.Status)
                {
                    case StepStatus.Pending:
                        Set(i, step with { Status = StepStatus.Skipped });
                        break;
                    case StepStatus.Waiting:
                        Set(i, step with { Status = StepStatus.Cancelled });
                        break;
                    case StepStatus.Retrying:
                        Set(i, step with { Status = StepStatus.Failed, ContinuedOnFailure = _index.Rules[i].ContinueOnFailure });
                        break;
                }
            }

            _status = status;
            _error = error;
            _run = _run with { Timers = RunData.NoTimers, OwedCancels = [] };
        }

        /// <summary>
        /// RetryRequested: every step that did not succeed is Pending again, its attempt counter kept; so is every
        /// succeeded step whose compensation succeeded (it was undone, so it must run again). A succeeded step keeps its
        /// outputs otherwise — also when its compensation failed (that stays visible; it is neither re-run nor
        /// compensated again).
        /// </summary>
        public void Restart()
        {
            var bases = _run.RunBase is { } previous ? (int[])previous.Clone() : new int[_steps.Length];
            var completions = _run.Completions;
            for (var i = 0; i < _steps.Length; i++)
            {
                var step = _steps[i];
                var undone = step.Status == StepStatus.Succeeded && step.Compensation == CompensationStatus.Succeeded;
                if (step.Status != StepStatus.Succeeded || undone)
                {
                    bases[i] = step.Attempt;
                    completions = undone ? completions.Remove(i) : completions;
                    Set(i, step with
                    {
                        Status = StepStatus.Pending,
                        RunnerId = null,
                        ExitCode = null,
                        Outputs = NoOutputs,
                        Error = null,
                        ContinuedOnFailure = false,
                        Cancelling = false,
                        Compensation = CompensationStatus.None,
                        CompensationError = null,
                        SkipReason = null,
                    });
                }
            }

            _run = _run with { Completions = completions };
            _status = ExecutionStatus.Running;
            _error = null;
            _run = _run with
            {
                Timers = RunData.NoTimers,
                Stop = StopKind.None,
                StopReason = null,
                ExecutionTimerScheduled = false,
                OwedCancels = [],
                RunBase = bases,
            };
        }
    }
}

internal enum StopKind
{
    None,
    Cancel,
    Timeout,
}

internal readonly record struct StepAttempt(int Position, int Attempt);

/// <summary>What an execution keeps besides its steps.</summary>
/// <param name="Completions">Step positions in the order they succeeded (the order compensation reverses).</param>
/// <param name="ExecutionTimerScheduled">The execution timeout was scheduled in this run (it is asked for once per run).</param>
/// <param name="OwedCancels">Timed-out attempts whose job still has to be cancelled (a <see cref="CancelJob"/> is due).</param>
/// <param name="RunBase">Per step, its attempt counter at the last <see cref="RetryRequested"/> (null: all 0); retries count from it.</param>
internal sealed record RunData(
    ImmutableSortedDictionary<string, TimerState> Timers,
    ImmutableList<int> Completions,
    StopKind Stop,
    string? StopReason,
    bool ExecutionTimerScheduled,
    ImmutableList<StepAttempt> OwedCancels,
    int[]? RunBase)
{
    public static readonly ImmutableSortedDictionary<string, TimerState> NoTimers =
        ImmutableSortedDictionary.Create<string, TimerState>(StringComparer.Ordinal);

    public static readonly RunData Empty = new(NoTimers, [], StopKind.None, null, false, [], null);
}

/// <summary>How many steps are in each category that the decider asks about, kept up to date by Apply.</summary>
/// <param name="Failed">Failed for good without continue_on_failure.</param>
/// <param name="Continued">Failed with continue_on_failure.</param>
/// <param name="Skipped">Skipped: by a false condition (or, once finished, because the execution ended first).</param>
internal readonly record struct StepCounts(int Pending, int Active, int Succeeded, int Failed, int Continued, int Waiting, int Retrying, int Skipped, int Other)
{
    public StepCounts(int pending)
        : this(pending, 0, 0, 0, 0, 0, 0, 0, 0)
    {
    }

    /// <summary>Steps the execution no longer waits for and that let it succeed (a skipped step counts as done).</summary>
    public int Done => Succeeded + Continued + Skipped;

    public StepCounts Move(StepState from, StepState to)
    {
        var before = Category(from);
        var after = Category(to);
        return before == after ? this : Add(before, -1).Add(after, 1);
    }

    private static int Category(StepState step) => step.Status switch
    {
        StepStatus.Pending => 0,
        StepStatus.Dispatched or StepStatus.Running => 1,
        StepStatus.Succeeded => 2,
        StepStatus.Failed => step.ContinuedOnFailure ? 4 : 3,
        StepStatus.Waiting => 5,
        StepStatus.Retrying => 6,
        StepStatus.Skipped => 7,
        _ => 8,
    };

    private StepCounts Add(int category, int delta) => category switch
    {
        0 => this with { Pending = Pending + delta },
        1 => this with { Active = Active + delta },
        2 => this with { Succeeded = Succeeded + delta },
        3 => this with { Failed = Failed + delta },
        4 => this with { Continued = Continued + delta },
        5 => this with { Waiting = Waiting + delta },
        6 => this with { Retrying = Retrying + delta },
        7 => this with { Skipped = Skipped + delta },
        _ => this with { Other = Other + delta },
    };
}

internal enum ConditionOutcome
{
    /// <summary>True, or no condition: the step runs.</summary>
    Run,

    /// <summary>False: the step is skipped.</summary>
    Skip,

    /// <summary>Does not parse or cannot be evaluated: the step fails without running.</summary>
    Fail,
}

/// <param name="Text">For Skip the skip reason, for Fail the step's error; null for Run.</param>
internal readonly record struct ConditionVerdict(ConditionOutcome Outcome, string? Text);

/// <summary>What an <c>if:</c> condition reads: the execution's input and the steps of the state (see <see cref="ExecutionState.Inputs"/>).</summary>
internal sealed class ConditionContext(ExecutionState state) : IExpressionContext
{
    public JsonElement Inputs => state.Inputs ?? default;

    public StepResult? GetStep(string name)
    {
        if (name is null || state.Index is not { } index || !index.TryGetPosition(name, out var position))
        {
            return null;
        }

        var step = state.StepSpan[position];
        return step.Status == StepStatus.Pending ? null : new StepResult(StatusName(step.Status), step.Outputs);
    }

    /// <summary>The lower-case name of a step status, as conditions read it.</summary>
    public static string StatusName(StepStatus status) => status switch
    {
        StepStatus.Pending => "pending",
        StepStatus.Dispatched => "dispatched",
        StepStatus.Running => "running",
        StepStatus.Succeeded => "succeeded",
        StepStatus.Failed => "failed",
        StepStatus.Skipped => "skipped",
        StepStatus.Cancelled => "cancelled",
        StepStatus.Waiting => "waiting",
        StepStatus.Retrying => "retrying",
        _ => status.ToString().ToLowerInvariant(),
    };
}
