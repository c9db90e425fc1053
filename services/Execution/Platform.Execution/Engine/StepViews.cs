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
        foreach (var e in history)
        {
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
            tails.GetValueOrDefault(s.Name))).ToList();
    }
}
