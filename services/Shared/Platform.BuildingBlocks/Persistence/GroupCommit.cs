using System.Threading.Channels;
using Npgsql;

namespace Platform.BuildingBlocks.Persistence;

/// <summary>
/// Group commit for a hot write path: the items that arrive while one commit is in flight are written together by
/// the next, so one round trip and one fsync serve many callers instead of one each. Each caller's task completes
/// only after the commit that holds its item. An item arriving while nothing is in flight is written at once — no
/// timer waits for company — so a lone caller waits for one commit, as without grouping.
/// </summary>
/// <remarks>
/// One writer: batches are committed one after another, in arrival order (a second writer, letting a batch start
/// while the previous one waits for its fsync, measured no better on 2 cores). When the server refuses a batch's
/// statement (<see cref="PostgresException"/>), each of its items is written on its own, so one bad item fails
/// alone; any other failure (a lost connection) fails the whole batch, whose commit is then unknown.
/// </remarks>
public sealed class GroupCommit<TItem, TResult> : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TItem>, Task<TResult[]>> commit;
    private readonly int maxItems;
    private readonly Func<TItem, long>? sizeOf;
    private readonly long maxBytes;
    private readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task writer;

    /// <param name="commit">Writes a batch in one transaction and returns one result per item, in order.</param>
    /// <param name="maxItems">The largest batch; a backlog beyond it is written by the next commit at once.</param>
    /// <param name="sizeOf">An item's size, bounding a batch to <paramref name="maxBytes"/> (an item above it is
    /// written alone).</param>
    /// <param name="maxBytes">See <paramref name="sizeOf"/>.</param>
    public GroupCommit(Func<IReadOnlyList<TItem>, Task<TResult[]>> commit, int maxItems, Func<TItem, long>? sizeOf = null,
        long maxBytes = long.MaxValue)
    {
        this.commit = commit;
        this.maxItems = maxItems;
        this.sizeOf = sizeOf;
        this.maxBytes = maxBytes;
        // Waits on the queue without holding a thread.
        writer = Task.Run(WriteAsync);
    }

    private sealed class Pending(TItem item) : TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public TItem Item { get; } = item;
    }

    /// <summary>Completes with the item's result once its batch is committed; fails when it could not be.</summary>
    public Task<TResult> AddAsync(TItem item)
    {
        var pending = new Pending(item);
        if (!queue.Writer.TryWrite(pending))
        {
            pending.TrySetException(new ObjectDisposedException(nameof(GroupCommit<TItem, TResult>)));
        }

        return pending.Task;
    }

    private async Task WriteAsync()
    {
        var batch = new List<Pending>();
        Pending? carried = null;
        while (carried is not null || await queue.Reader.WaitToReadAsync())
        {
            long bytes = 0;
            if (carried is not null)
            {
                batch.Add(carried);
                bytes = sizeOf?.Invoke(carried.Item) ?? 0;
                carried = null;
            }

            while (batch.Count < maxItems && queue.Reader.TryRead(out var pending))
            {
                bytes += sizeOf?.Invoke(pending.Item) ?? 0;
                if (bytes > maxBytes && batch.Count > 0)
                {
                    carried = pending;
                    break;
                }

                batch.Add(pending);
            }

            await CommitAsync(batch);
            batch.Clear();
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        TResult[] results;
        try
        {
            results = await commit([.. batch.Select(p => p.Item)]);
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            foreach (var pending in batch)
            {
                await CommitAsync([pending]);
            }

            return;
        }
        catch (Exception ex)
        {
            // Every caller is answered, and the writer goes on with the next batch.
            batch.ForEach(p => p.TrySetException(ex));
            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].TrySetResult(results[i]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await writer;
    }
}
