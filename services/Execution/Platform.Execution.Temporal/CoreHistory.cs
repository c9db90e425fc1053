using System.Text.Json;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;

namespace Platform.Execution.Temporal;

/// <summary>The core's events in the form the workflow keeps, queries and hands over: the API's history entries.</summary>
internal static class CoreHistory
{
    /// <summary>The event of a history entry (<see cref="HistoryCodec.Decode"/>), with the execution's input put back on
    /// <see cref="ExecutionStarted"/>: the workflow carries the input itself, whatever the stored form keeps of it.</summary>
    public static ExecutionEvent Decode(HistoryEntry entry, JsonElement inputs)
    {
        var e = HistoryCodec.Decode(new StoredEvent(entry.Type, entry.Step, entry.Attempt, entry.Data));
        return e is ExecutionStarted started ? started with { Input = inputs } : e;
    }

    /// <summary>The state after these events.</summary>
    public static ExecutionState Fold(IEnumerable<HistoryEntry> history, JsonElement inputs)
    {
        var state = ExecutionState.Initial;
        foreach (var entry in history)
        {
            state = state.Apply(Decode(entry, inputs));
        }

        return state;
    }

    public static JsonElement ParseInput(string? json)
    {
        using var document = JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "{}" : json);
        return document.RootElement.Clone();
    }
}
