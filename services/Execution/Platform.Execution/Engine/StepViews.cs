using Platform.Execution.Core;
using Platform.Execution.Domain;

namespace Platform.Execution.Engine;

/// <summary>Builds what users see of each step: the core's step state plus times and output from the history.</summary>
public static class StepViews
{
    public static IReadOnlyList<StepView> Build(ExecutionState state, PinnedWorkflow plan, IReadOnlyList<HistoryEntry> history)
    {
        var started = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var finished = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var tails = new Dictionary<string, string>(StringComparer.Ordinal);
        var timersDue = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var e in history)
        {
            if (e.Type == HistoryCodec.TimerScheduledType && (string?)e.Data["timer_id"] is { } timerId
                && e.Data["due_at"] is { } due)
            {
                timersDue[timerId] = due.GetValue<DateTimeOffset>();
            }

            if (e.Step is not { } step)
            {
                continue;
            }

            switch (e.Type)
            {
                case HistoryCodec.StepDispatchedType:
                    started.Remove(step);
                    finished.Remove(step);
                    tails.Remove(step);
                    break;
                case HistoryCodec.StepStartedType:
                    started[step] = e.Data["started_at"] is { } s ? s.GetValue<DateTimeOffset>() : e.Time;
                    break;
                case HistoryCodec.StepSucceededType or HistoryCodec.StepFailedType:
                    finished[step] = e.Data["finished_at"] is { } f ? f.GetValue<DateTimeOffset>() : e.Time;
                    if ((string?)e.Data["output_tail"] is { } tail)
                    {
                        tails[step] = tail;
                    }

                    break;
            }
        }

        return state.Steps.Select(s => new StepView(
            s,
            plan.Find(s.Name)?.Agent.Name ?? "",
            started.TryGetValue(s.Name, out var st) ? st : null,
            finished.TryGetValue(s.Name, out var fi) ? fi : null,
            tails.GetValueOrDefault(s.Name),
            WaitingFor(s, plan.Find(s.Name), timersDue))).ToList();
    }

    /// <summary>Why a step that should be moving is not: the user's first question about a stuck execution.</summary>
    private static string? WaitingFor(StepState step, PinnedStep? planned, IReadOnlyDictionary<string, DateTimeOffset> timersDue) =>
        step.Status switch
        {
            StepStatus.Dispatched => planned?.Agent.RunnerLabels is { Count: > 0 } labels
                ? $"a runner with labels [{string.Join(", ", labels)}]"
                : "a runner",
            StepStatus.Retrying => timersDue.TryGetValue(TimerIds.Retry(step.Name, step.Attempt + 1), out var due)
                ? $"a retry timer until {due:O} (attempt {step.Attempt + 1})"
                : $"a retry timer (attempt {step.Attempt + 1})",
            StepStatus.Waiting => timersDue.TryGetValue(TimerIds.ApprovalTimeout(step.Name), out var until)
                ? $"an approval signal '{step.Name}' until {until:O}"
                : $"an approval signal '{step.Name}'",
            _ => null,
        };
}
