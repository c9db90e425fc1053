using System.Collections.Concurrent;
using Grpc.Core;
using Platform.BuildingBlocks.Persistence;
using Platform.Protos.Triggers.V1;

namespace Platform.WebhookIngress.Application;

/// <summary>How to verify a trigger's deliveries, as Triggers says.</summary>
public sealed record TriggerVerification(Guid TriggerId, string Verification, string Source, string DedupeHeader,
    IReadOnlyList<string> Secrets, DateTimeOffset? ValidUntil);

/// <summary>
/// The triggers' verification settings, asked of the Triggers context over gRPC (the ingress never reads another
/// context's tables) and kept for <see cref="Ttl"/>, so a burst of webhooks costs no call per delivery. A
/// rotation or deletion NOTIFYs <see cref="ChangedChannel"/> on the shared PostgreSQL server, which empties the
/// cache. That notification can arrive after the rotation's answer (or never, with separate database servers), so a
/// delivery that fails verification is checked again against settings fetched after it arrived — concurrent failures
/// share one fetch — and a rotated secret works at once. A deleted trigger keeps accepting for at most <see cref="Ttl"/>
/// without the notification (its deliveries are then answered "failed: the trigger was deleted" by Triggers).
/// </summary>
public sealed class TriggerDirectory(Protos.Triggers.V1.Triggers.TriggersClient client, PgNotificationHub notifications, TimeProvider clock)
{
    /// <summary>The channel Triggers notifies when a webhook trigger's secret or existence changes.</summary>
    public const string ChangedChannel = "webhook_triggers_changed";

    private readonly Signal changed = notifications.Channel(ChangedChannel);
    private Task seenChange = notifications.Channel(ChangedChannel).Next;

    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);
    private const int MaxEntries = 50_000;

    private readonly ConcurrentDictionary<Guid, Task<Entry>> entries = new();
    private readonly Lock refreshing = new();

    private sealed record Entry(TriggerVerification? Verification, DateTimeOffset FetchedAt);

    /// <returns>null when there is no such webhook trigger.</returns>
    public async Task<TriggerVerification?> GetAsync(Guid triggerId, CancellationToken cancellationToken) =>
        (await GetEntryAsync(triggerId, null, cancellationToken)).Verification;

    /// <summary>Settings fetched at or after <paramref name="notBefore"/> (a delivery's arrival).</summary>
    public async Task<TriggerVerification?> RefreshAsync(Guid triggerId, DateTimeOffset notBefore, CancellationToken cancellationToken) =>
        (await GetEntryAsync(triggerId, notBefore, cancellationToken)).Verification;

    private async Task<Entry> GetEntryAsync(Guid triggerId, DateTimeOffset? notBefore, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var change = changed.Next;
        if (change != Volatile.Read(ref seenChange))
        {
            // A trigger changed somewhere since the last look: forget everything (rotations are rare).
            Volatile.Write(ref seenChange, change);
            entries.Clear();
        }

        var cached = entries.GetOrAdd(triggerId, id => FetchAsync(id));
        var entry = await WaitOrForgetAsync(triggerId, cached, cancellationToken);
        // A fetch another caller started meanwhile may still predate notBefore: then once more.
        for (var round = 0; round < 3 && IsStale(entry, now, notBefore); round++)
        {
            // One fetch replaces the stale entry; concurrent callers share it (a flood of bad signatures costs one
            // call at a time, not one each).
            lock (refreshing)
            {
                cached = entries.TryGetValue(triggerId, out var existing) && existing != cached
                    ? existing
                    : entries[triggerId] = FetchAsync(triggerId);
            }

            entry = await WaitOrForgetAsync(triggerId, cached, cancellationToken);
        }

        return entry;
    }

    private static bool IsStale(Entry entry, DateTimeOffset now, DateTimeOffset? notBefore) =>
        notBefore is { } since
            ? entry.FetchedAt < since
            : now - entry.FetchedAt > Ttl || entry.Verification?.ValidUntil <= now;

    private async Task<Entry> WaitOrForgetAsync(Guid triggerId, Task<Entry> task, CancellationToken cancellationToken)
    {
        try
        {
            return await task.WaitAsync(cancellationToken);
        }
        catch (Exception) when (task.IsFaulted)
        {
            // A failed call is not cached: the next delivery asks again.
            entries.TryRemove(new KeyValuePair<Guid, Task<Entry>>(triggerId, task));
            throw;
        }
    }

    private async Task<Entry> FetchAsync(Guid triggerId)
    {
        if (entries.Count > MaxEntries)
        {
            entries.Clear();
        }

        var now = clock.GetUtcNow();
        try
        {
            var v = await client.GetWebhookVerificationAsync(new TriggerRequest { Id = triggerId.ToString() });
            return new Entry(new TriggerVerification(triggerId, v.Verification, v.Source, v.DedupeHeader, [.. v.Secrets],
                v.ValidUntil?.ToDateTimeOffset()), now);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return new Entry(null, now);
        }
    }
}
