using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Platform.BuildingBlocks.Persistence;

/// <summary>
/// One LISTEN connection per process, fanned out to in-process <see cref="Signal"/>s by channel. Waiters (the job
/// queue's long polls, outbox relays) sleep on a signal instead of polling the database. After a reconnect every
/// signal fires, because notifications sent while disconnected are lost and waiters must look again.
/// </summary>
public sealed class PgNotificationHub(NpgsqlDataSource dataSource, ILogger<PgNotificationHub> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Signal> signals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Func<string, bool>> filters = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool channelsChanged;

    private readonly ConcurrentDictionary<string, byte> toNotify = new(StringComparer.Ordinal);
    private int notifying;

    /// <summary>
    /// Wakes the waiters of <paramref name="channel"/> after a commit, without a NOTIFY in the committing transaction:
    /// this process's waiters at once, other processes' by a NOTIFY sent right after, one for every request made while
    /// the previous one was being sent. PostgreSQL commits transactions that NOTIFY one at a time (holding its
    /// notification lock through the commit's WAL flush), so a NOTIFY per hot transaction caps their rate; coalesced,
    /// the cost is one NOTIFY per flush whatever the rate. For waiters that also have a timeout to fall back on (a
    /// crash between the commit and the NOTIFY loses the wake-up of other processes' waiters).
    /// </summary>
    public void NotifySoon(string channel)
    {
        Channel(channel).Pulse();
        toNotify[channel] = 0;
        if (Interlocked.Exchange(ref notifying, 1) == 0)
        {
            _ = SendNotificationsAsync();
        }
    }

    private readonly ConcurrentDictionary<string, byte> gathering = new(StringComparer.Ordinal);

    /// <summary>
    /// As <see cref="NotifySoon(string)"/>, but other processes' waiters are woken by one NOTIFY sent
    /// <paramref name="gather"/> after the first request, whatever the number of requests meanwhile. For a channel
    /// pulsed by every one of a stream of commits (a job's end wakes its log followers): each NOTIFY is a commit of
    /// its own, flushed to the WAL, and under a steady stream <see cref="NotifySoon(string)"/> sends them back to back.
    /// </summary>
    public void NotifySoon(string channel, TimeSpan gather)
    {
        Channel(channel).Pulse();
        if (gathering.TryAdd(channel, 0))
        {
            _ = SendGatheredAsync(channel, gather);
        }
    }

    private async Task SendGatheredAsync(string channel, TimeSpan gather)
    {
        await Task.Delay(gather);
        // Removed before sending: a request from now on is after the NOTIFY's commit starts, so it gathers anew.
        gathering.TryRemove(channel, out _);
        toNotify[channel] = 0;
        if (Interlocked.Exchange(ref notifying, 1) == 0)
        {
            await SendNotificationsAsync();
        }
    }

    private async Task SendNotificationsAsync()
    {
        try
        {
            while (true)
            {
                var channels = toNotify.Keys.ToArray();
                foreach (var channel in channels)
                {
                    toNotify.TryRemove(channel, out _);
                }

                if (channels.Length > 0)
                {
                    await using var connection = await dataSource.OpenConnectionAsync();
                    await using var batch = new NpgsqlBatch(connection);
                    foreach (var channel in channels)
                    {
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{channel}', '')"));
                    }

                    await batch.ExecuteNonQueryAsync();
                }

                Volatile.Write(ref notifying, 0);
                // A request that came after the keys were taken, and found the flag still set, is sent now.
                if (toNotify.IsEmpty || Interlocked.Exchange(ref notifying, 1) == 1)
                {
                    return;
                }
            }
        }
        catch (Exception e)
        {
            Volatile.Write(ref notifying, 0);
            logger.LogWarning(e, "Sending a NOTIFY failed; other processes' waiters fall back on their timeouts");
        }
    }

    /// <summary>Completes once the first LISTEN is in place (tests and start-up ordering).</summary>
    public Task Listening => listening.Task;

    /// <summary>The signal pulsed on every NOTIFY of the channel — or, with <paramref name="accept"/>, on those whose
    /// payload it accepts (e.g. to leave out a process's own notifications). Channels must be plain identifiers.</summary>
    public Signal Channel(string channel, Func<string, bool>? accept = null)
    {
        if (accept is not null)
        {
            filters[channel] = accept;
        }

        return signals.GetOrAdd(channel, _ =>
        {
            channelsChanged = true;
            return new Signal();
        });
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (signals.TryGetValue(e.Channel, out var signal)
                        && (!filters.TryGetValue(e.Channel, out var accept) || accept(e.Payload)))
                    {
                        signal.Pulse();
                    }
                };
                var listened = new HashSet<string>(StringComparer.Ordinal);
                backoff = TimeSpan.FromMilliseconds(200);
                var first = true;
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (first || channelsChanged)
                    {
                        channelsChanged = false;
                        foreach (var channel in signals.Keys.Where(c => !listened.Contains(c)).ToList())
                        {
                            await using var listen = new NpgsqlCommand($"LISTEN \"{channel}\"", connection);
                            await listen.ExecuteNonQueryAsync(stoppingToken);
                            listened.Add(channel);
                        }

                        if (first)
                        {
                            // Anything notified before we listened (or while we were disconnected) is looked at again.
                            foreach (var signal in signals.Values)
                            {
                                signal.Pulse();
                            }

                            listening.TrySetResult();
                            first = false;
                        }
                    }

                    // Wake at least every few seconds to LISTEN on channels subscribed since.
                    await connection.WaitAsync(TimeSpan.FromSeconds(2), stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or System.IO.IOException)
            {
                logger.LogWarning(ex, "LISTEN connection lost; reconnecting in {Delay}", backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }
}

/// <summary>
/// A broadcast wake-up: take <see cref="Next"/> before looking at the database, then await it; a pulse in between
/// is never lost. Every waiter of a generation wakes on the same pulse.
/// </summary>
public sealed class Signal
{
    private TaskCompletionSource current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => Volatile.Read(ref current).Task;

    public void Pulse()
    {
        var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref current, fresh).TrySetResult();
    }
}
