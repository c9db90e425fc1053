namespace Platform.Execution.Core;

/// <summary>
/// The decisions of the core: which incoming facts apply, and what must happen next.
/// </summary>
/// <remarks>
/// Host loop: <c>commands = Decide(state)</c>; for each command, in order, do it and append/apply <c>Record(command)</c>
/// (for <see cref="StartTimer"/> with jitter: <see cref="TimerScheduled"/> with the delay actually used);
/// repeat until <see cref="Decide"/> returns nothing. An external fact (a job result, a timer firing, a cancel, a
/// signal, a retry) is appended and applied only if <see cref="Admits"/> says so, then the loop runs again.
/// </remarks>
public static class Decider
{
    private static readonly ExecutionCommand[] Nothing = [];

    /// <summary>
    /// Does this event apply to the state now? False for an unknown step, a wrong attempt, a step already terminal,
    /// an execution not started or already finished, a duplicate, a timer that is not active. Recording only admitted
    /// events is how no step result is applied twice and stale timers are harmless. A <see cref="StepSkipped"/> (and
    /// a <see cref="StepFailed"/> for a step that never ran) is admitted only as the record of the decider's own
    /// <see cref="SkipStep"/> (<see cref="FailStep"/>): the condition is judged again, so a skip from outside is refused.
    /// <see cref="ExecutionState.Apply"/> throws exactly when this is false.
    /// </summary>
    public static bool Admits(ExecutionState state, ExecutionEvent incoming) => RejectionReason(state, incoming) is null;

    /// <summary>Why <see cref="Admits"/> is false (for logs), or null when the event is admitted.</summary>
    public static string? RejectionReason(ExecutionState state, ExecutionEvent incoming)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(incoming);
        return state.Reject(incoming);
    }

    /// <summary>
    /// What must happen next. Idempotent: the same commands until <see cref="Record"/> of each is applied, then never
    /// again. Deterministic, in this order:
    /// <list type="number">
    /// <item><see cref="CancelJob"/>s due (timed-out attempts; when stopping, every active attempt not yet cancelled);
    /// while any is due, nothing else.</item>
    /// <item>In the normal phase: the execution timeout (first time), then per step in declaration order: a ready
    /// step's <see cref="DispatchStep"/> (+ its attempt timeout) or <see cref="AwaitApproval"/> (+ its approval
    /// timeout), a missing timeout of an active attempt or waiting approval, a Retrying step's backoff timer.
    /// A ready step with an <c>if:</c> condition (judged once per run, before its first attempt) starts so only when
    /// the condition is true; when it is false the step's <see cref="SkipStep"/>, when it does not parse (or cannot be
    /// evaluated) its <see cref="FailStep"/>, comes alone: the commands before it are returned first, and it is the
    /// only command of the next Decide — so each verdict is judged, and checked again by <see cref="Admits"/> when
    /// recorded, on the same state.</item>
    /// <item>At the end: a single <see cref="DispatchCompensation"/> (the latest-completed step still to compensate) or a
    /// single <see cref="FinishExecution"/>.</item>
    /// </list>
    /// Nothing before <see cref="ExecutionStarted"/> or after <see cref="ExecutionFinished"/>.
    /// </summary>
    public static IReadOnlyList<ExecutionCommand> Decide(ExecutionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Index is not { } index)
        {
            return Nothing;
        }

        if (state.Status == ExecutionStatus.Compensating)
        {
            return DecideCompensation(state);
        }

        if (state.Status != ExecutionStatus.Running)
        {
            return Nothing;
        }

        var run = state.Run;
        var counts = state.Counts;
        var steps = state.StepSpan;
        List<ExecutionCommand>? commands = null;

        foreach (var owed in run.OwedCancels)
        {
            (commands ??= []).Add(new CancelJob(steps[owed.Position].Name, owed.Attempt));
        }

        if (run.Stop != StopKind.None && counts.Active > 0)
        {
            foreach (var step in steps)
            {
                if (step.IsActive && !step.Cancelling)
                {
                    (commands ??= []).Add(new CancelJob(step.Name, step.Attempt));
                }
            }
        }

        if (commands is not null)
        {
            return commands;
        }

        if (run.Stop == StopKind.None && counts.Failed == 0)
        {
            if (counts.Done == steps.Length)
            {
                return [new FinishExecution(ExecutionStatus.Succeeded, null)];
            }

            if (index.Timeout is { } executionTimeout && !run.ExecutionTimerScheduled)
            {
                (commands ??= []).Add(new StartTimer(TimerIds.ExecutionTimeout, executionTimeout, false));
            }

            var dependencies = index.Dependencies;
            var rules = index.Rules;
            var timers = run.Timers;
            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                var rule = rules[i];
                switch (step.Status)
                {
                    case StepStatus.Pending when ExecutionState.DependenciesMet(steps, dependencies[i]):
                        if (rule.Condition is not null && step.Attempt == state.RunBase(i))
                        {
                            var verdict = state.JudgeCondition(i);
                            if (verdict.Outcome != ConditionOutcome.Run)
                            {
                                if (commands is not null)
                                {
                                    return commands;
                                }

                                return verdict.Outcome == ConditionOutcome.Skip
                                    ? [new SkipStep(step.Name, verdict.Text!)]
                                    : [new FailStep(step.Name, step.Attempt, verdict.Text!)];
                            }
                        }

                        StartStep(step, rule, ref commands);
                        break;
                    case StepStatus.Dispatched or StepStatus.Running when rule.Timeout is { } timeout:
                        var attemptTimer = TimerIds.AttemptTimeout(step.Name, step.Attempt);
                        if (!timers.ContainsKey(attemptTimer))
                        {
                            (commands ??= []).Add(new StartTimer(attemptTimer, timeout, false));
                        }

                        break;
                    case StepStatus.Waiting when rule.Timeout is { } wait:
                        var approvalTimer = TimerIds.ApprovalTimeout(step.Name);
                        if (!timers.ContainsKey(approvalTimer))
                        {
                            (commands ??= []).Add(new StartTimer(approvalTimer, wait, false));
                        }

                        break;
                    case StepStatus.Retrying when rule.Retry is { } policy:
                        var retryTimer = TimerIds.Retry(step.Name, step.Attempt + 1);
                        if (!timers.ContainsKey(retryTimer))
                        {
                            var failedAttemptOfRun = step.Attempt - state.RunBase(i);
                            (commands ??= []).Add(new StartTimer(retryTimer, policy.DelayAfter(failedAttemptOfRun), policy.Jitter));
                        }

                        break;
                }
            }

            if (commands is not null)
            {
                return commands;
            }
        }

        return state.Ending() is { } outcome ? End(state, outcome) : Nothing;
    }

    /// <summary>
    /// The event that records a command as done: DispatchStep → StepDispatched, FinishExecution → ExecutionFinished,
    /// StartTimer → TimerScheduled (with the command's delay; a jittering host records its own), CancelJob →
    /// JobCancelRequested, AwaitApproval → ApprovalRequested, DispatchCompensation → CompensationDispatched,
    /// SkipStep → StepSkipped, FailStep → StepFailed (with no exit code).
    /// </summary>
    public static ExecutionEvent Record(ExecutionCommand command) => command switch
    {
        DispatchStep d => new StepDispatched(d.Step, d.Attempt),
        FinishExecution f => new ExecutionFinished(f.Status, f.Error),
        StartTimer t => new TimerScheduled(t.TimerId, t.Delay),
        CancelJob c => new JobCancelRequested(c.Step, c.Attempt),
        AwaitApproval a => new ApprovalRequested(a.Step),
        DispatchCompensation c => new CompensationDispatched(c.Step),
        SkipStep s => new StepSkipped(s.Step, s.Reason),
        FailStep f => new StepFailed(f.Step, f.Attempt, null, f.Error),
        null => throw new ArgumentNullException(nameof(command)),
        _ => throw new ArgumentException($"unknown command type {command.GetType().Name}", nameof(command)),
    };

    /// <summary>
    /// Starts a ready step (its condition, if any, is true): a job for an agent step, a wait for an approval step, each
    /// with its timeout timer.
    /// </summary>
    private static void StartStep(StepState step, StepRules rule, ref List<ExecutionCommand>? commands)
    {
        commands ??= [];
        if (rule.Kind == StepKind.Approval)
        {
            commands.Add(new AwaitApproval(step.Name));
            if (rule.Timeout is { } wait)
            {
                commands.Add(new StartTimer(TimerIds.ApprovalTimeout(step.Name), wait, false));
            }

            return;
        }

        var attempt = step.Attempt + 1;
        commands.Add(new DispatchStep(step.Name, attempt));
        if (rule.Timeout is { } timeout)
        {
            commands.Add(new StartTimer(TimerIds.AttemptTimeout(step.Name, attempt), timeout, false));
        }
    }

    /// <summary>The end of a Running execution: compensate first if it failed or was cancelled, else finish.</summary>
    private static ExecutionCommand[] End(ExecutionState state, (ExecutionStatus Status, string? Error) outcome)
    {
        if (outcome.Status != ExecutionStatus.Succeeded)
        {
            var next = state.NextCompensation();
            if (next >= 0)
            {
                return [new DispatchCompensation(state.StepSpan[next].Name)];
            }

            return [new FinishExecution(outcome.Status, state.FinishError(outcome.Error))];
        }

        return [new FinishExecution(outcome.Status, outcome.Error)];
    }

    /// <summary>Compensating: one compensation at a time in reverse completion order, then the finish.</summary>
    private static IReadOnlyList<ExecutionCommand> DecideCompensation(ExecutionState state)
    {
        if (state.CompensationRunning())
        {
            return Nothing;
        }

        var next = state.NextCompensation();
        if (next >= 0)
        {
            return [new DispatchCompensation(state.StepSpan[next].Name)];
        }

        var (status, error) = state.Outcome();
        return [new FinishExecution(status, state.FinishError(error))];
    }
}
