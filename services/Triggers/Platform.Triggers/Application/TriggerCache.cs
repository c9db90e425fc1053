using System.Collections.Concurrent;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Domain;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Application;

/// <summary>
/// Webhook triggers with their parsed mapping, for the consumer of a burst of deliveries: read once, not once per
/// delivery. Emptied when any trigger is rotated or deleted (the NOTIFY the store sends), and kept at most a few
/// seconds otherwise.
/// </summary>
public sealed class TriggerCache(TriggerStore store, PgNotificationHub notifications, TimeProvider clock)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<Guid, (TriggerRecord? Trigger, PayloadMapping? Mapping, DateTimeOffset At)> entries = new();
    private readonly Signal changed = notifications.Channel(TriggerStore.ChangedChannel);
    private Task seenChange = notifications.Channel(TriggerStore.ChangedChannel).Next;

    /// <returns>null when the trigger does not exist (any more).</returns>
    public async Task<(TriggerRecord Trigger, PayloadMapping Mapping)?> GetAsync(Guid id)
    {
        var change = changed.Next;
        if (change != Volatile.Read(ref seenChange))
        {
            Volatile.Write(ref seenChange, change);
            entries.Clear();
        }

        var now = clock.GetUtcNow();
        if (!entries.TryGetValue(id, out var entry) || now - entry.At > Ttl)
        {
            var trigger = await store.GetAsync(id);
            entry = (trigger, trigger is null ? null : TriggerFiring.MappingOf(trigger), now);
            entries[id] = entry;
        }

        return entry.Trigger is { } t ? (t, entry.Mapping!) : null;
    }
}
