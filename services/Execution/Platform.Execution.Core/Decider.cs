using System.Text;

namespace Platform.Execution.Core;

/// <summary>
/// The decisions of the core: which incoming facts apply, and what must happen next.
/// </summary>
/// <remarks>
/// Host loop: <c>commands = Decide(state)</c>; for each command, do it and append/apply <c>Record(command)</c>;
/// repeat until <see cref="Decide"/> returns nothing. An external fact (a job result) is appended and applied only if
/// <see cref="Admits"/> says so, then the loop runs again.
/// </remarks>
public static class Decider
{
    private static readonly ExecutionCommand[] Nothing = [];

    /// <summary>
    /// Does this event apply to the state now? False for an unknown step, a wrong attempt, a step already terminal,
    /// an execution not started or already finished, a duplicate. Recording only admitted events is how no step result
    /// is applied twice. <see cref="ExecutionState.Apply"/> throws exactly when this is false.
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
    /// What must happen next, in declaration order. Idempotent: once <see cref="Record"/> of a command is applied,
    /// that command is not returned again. Returns either dispatches or a single <see cref="FinishExecution"/>, never both.
    /// Nothing before <see cref="ExecutionStarted"/> or after <see cref="ExecutionFinished"/>.
    /// </summary>
    public static IReadOnlyList<ExecutionCommand> Decide(ExecutionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Status != ExecutionStatus.Running || state.Index is not { } index)
        {
            return Nothing;
        }

        var counts = state.Counts;
        var steps = state.StepSpan;

        // Fail fast: after a failure nothing new starts; finish once the running siblings are done.
        if (counts.Failed > 0)
        {
            return counts.Active > 0 ? Nothing : [new FinishExecution(ExecutionStatus.Failed, DescribeFailures(steps))];
        }

        if (counts.Succeeded == steps.Length)
        {
            return [new FinishExecution(ExecutionStatus.Succeeded, null)];
        }

        if (counts.Pending > 0)
        {
            List<ExecutionCommand>? commands = null;
            var dependencies = index.Dependencies;
            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                if (step.Status == StepStatus.Pending && DependenciesMet(steps, dependencies[i]))
                {
                    (commands ??= []).Add(new DispatchStep(step.Name, step.Attempt + 1));
                }
            }

            if (commands is not null)
            {
                return commands;
            }
        }

        // Nothing can start now. Normal while steps are out; with nothing out it is unreachable for a validated plan
        // (a pending step always has a path to readiness while nothing failed), kept so that an execution never hangs.
        return counts.Active > 0
            ? Nothing
            : [new FinishExecution(ExecutionStatus.Failed, "no step can run: no step is running and no pending step has its dependencies met")];
    }

    /// <summary>The event that records a command as done: DispatchStep → StepDispatched, FinishExecution → ExecutionFinished.</summary>
    public static ExecutionEvent Record(ExecutionCommand command) => command switch
    {
        DispatchStep d => new StepDispatched(d.Step, d.Attempt),
        FinishExecution f => new ExecutionFinished(f.Status, f.Error),
        null => throw new ArgumentNullException(nameof(command)),
        _ => throw new ArgumentException($"unknown command type {command.GetType().Name}", nameof(command)),
    };

    private static bool DependenciesMet(ReadOnlySpan<StepState> steps, int[] dependencies)
    {
        foreach (var d in dependencies)
        {
            if (steps[d].Status is not (StepStatus.Succeeded or StepStatus.Skipped))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>"step 'build' failed: exit code 2"; several failures in declaration order, joined with "; ".</summary>
    private static string DescribeFailures(ReadOnlySpan<StepState> steps)
    {
        var text = new StringBuilder();
        foreach (var step in steps)
        {
            if (step.Status == StepStatus.Failed)
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
}
