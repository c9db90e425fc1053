namespace Platform.Execution.Core;

/// <summary>The normalised DAG of an execution: steps in declaration order.</summary>
/// <remarks>
/// Normalised and validated upstream (names unique, dependencies known, no cycles); the core checks these again
/// when <see cref="ExecutionStarted"/> is applied and refuses a plan that breaks them.
/// A dependency may name a step declared later.
/// </remarks>
public sealed record ExecutionPlan(IReadOnlyList<PlannedStep> Steps)
{
    /// <summary>
    /// Limit on the whole execution, from its start (and again from each <see cref="RetryRequested"/>). When it fires the
    /// execution is stopped like a cancel and ends Failed with "execution timed out after 1h". Null: no limit.
    /// </summary>
    public TimeSpan? Timeout { get; init; }
}

/// <summary>One step of a plan and the names of the steps it waits for (empty = may start at once).</summary>
public sealed record PlannedStep(string Name, IReadOnlyList<string> DependsOn)
{
    /// <summary>
    /// The step's <c>if:</c> condition (the expression language of Platform.Workflow.Expressions: bare, or wholly
    /// inside one <c>${{ }}</c>). Null: none, the step always runs. Judged once per run, when the step is first ready:
    /// against the execution's input and the steps so far (see <see cref="ExecutionState.Inputs"/>); false → the step
    /// is Skipped (<see cref="SkipStep"/>), and its dependents treat it as satisfied; true → it runs as without one.
    /// Any string is accepted in a plan (Definitions refuses bad ones at save): one that does not parse (an empty one
    /// included) fails the step when it is ready, with "invalid condition: ...". Parsed once per plan.
    /// </summary>
    public string? Condition { get; init; }

    /// <summary>An agent step runs a job; an approval step waits for the signal named after it.</summary>
    public StepKind Kind { get; init; } = StepKind.Agent;

    /// <summary>Retries of failed attempts (agent steps only; approvals are never retried). Null: one attempt.</summary>
    public RetryPolicy? Retry { get; init; }

    /// <summary>
    /// Agent step: the limit on each attempt, from its dispatch; a timed-out attempt is cancelled on its runner and
    /// counts as failed. Approval step: how long to wait for the signal. Null: no limit.
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>When the step fails for good, the rest of the execution proceeds as if it had succeeded (without outputs).</summary>
    public bool ContinueOnFailure { get; init; }

    /// <summary>The step has a <c>compensate:</c> job, run if the execution fails or is cancelled after the step succeeded.</summary>
    public bool HasCompensation { get; init; }
}

public enum StepKind
{
    Agent,
    Approval,
}

/// <summary>How a failed attempt is retried.</summary>
/// <param name="MaxAttempts">Attempts in all, the first included (1 = no retry). Counted per run: a retried execution starts again at 1.</param>
/// <param name="Initial">The delay before the second attempt.</param>
/// <param name="Max">The longest delay.</param>
/// <param name="Multiplier">Each further delay is the previous one times this.</param>
/// <param name="Jitter">The host randomises each delay (and records the delay it chose in <see cref="TimerScheduled"/>).</param>
/// <param name="NonRetryableExitCodes">A failure with one of these exit codes is not retried.</param>
public sealed record RetryPolicy(
    int MaxAttempts,
    TimeSpan Initial,
    TimeSpan Max,
    double Multiplier,
    bool Jitter,
    IReadOnlyList<int> NonRetryableExitCodes)
{
    /// <summary>
    /// The delay after the <paramref name="failedAttempt"/>-th failed attempt of a run (1-based):
    /// min(Max, Initial × Multiplier^(failedAttempt − 1)). Computed by repeated multiplication, so it is the same on
    /// every machine.
    /// </summary>
    public TimeSpan DelayAfter(int failedAttempt)
    {
        var max = Math.Max(0L, Max.Ticks);
        double ticks = Math.Max(0L, Initial.Ticks);
        for (var n = 1; n < failedAttempt && ticks < max; n++)
        {
            ticks *= Multiplier;
        }

        // Also catches NaN and infinity.
        return !(ticks < max) ? TimeSpan.FromTicks(max)
            : ticks <= 0 ? TimeSpan.Zero
            : TimeSpan.FromTicks((long)ticks);
    }
}
