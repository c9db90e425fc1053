using Google.Protobuf.WellKnownTypes;
using Platform.Protos.Runners.V1;
using Platform.Runner.Executors;

namespace Platform.Runner;

/// <summary>
/// Batches one job attempt's log lines (numbered 1, 2, 3... in arrival order) and sends them in order, one batch at
/// a time, every <see cref="FlushInterval"/> or as soon as <see cref="MaxBatch"/> lines wait. <see cref="CompleteAsync"/>
/// sends what is left (the agent awaits it before CompleteJob). When a batch is refused or given up, the job's later
/// lines are dropped: the job itself goes on (reports and cancellations decide its fate). While sending stalls, at most
/// <see cref="MaxPending"/> lines wait; later ones are dropped.
/// </summary>
internal sealed class JobLogSender : IJobLogSink
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);
    public const int MaxBatch = 500;
    public const int MaxPending = 20_000;

    private readonly int attempt;
    private readonly Func<IReadOnlyList<LogLine>, Task<bool>> send;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private readonly List<LogLine> pending = [];
    private readonly CancellationTokenSource completing = new();
    private TaskCompletionSource batchReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? loop;
    private long sequence;
    private bool closed; // completing, or sending stopped: later lines are dropped

    /// <param name="send">Sends one batch (retrying transient failures); false when it was refused or given up.</param>
    public JobLogSender(int attempt, Func<IReadOnlyList<LogLine>, Task<bool>> send, TimeProvider time)
    {
        this.attempt = attempt;
        this.send = send;
        this.time = time;
    }

    /// <summary>Lines dropped because sending was refused or stalled.</summary>
    public long Dropped { get; private set; }

    /// <summary>Whether the registry refused (or the runner gave up) a batch, so the rest of the log was dropped.</summary>
    public bool Stopped { get; private set; }

    public void Start() => loop = Task.Run(SendLoopAsync);

    public void WriteLine(JobOutputStream stream, string text)
    {
        lock (gate)
        {
            if (closed || pending.Count >= MaxPending)
            {
                Dropped++;
                return;
            }

            pending.Add(new LogLine
            {
                Attempt = attempt,
                Sequence = ++sequence,
                Stream = stream == JobOutputStream.Stderr ? "stderr" : "stdout",
                Text = text,
                Time = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
            });
            if (pending.Count == MaxBatch)
            {
                batchReady.TrySetResult();
            }
        }
    }

    /// <summary>Takes no more lines and sends those waiting; completes when they were sent (or sending stopped).</summary>
    public async Task CompleteAsync()
    {
        lock (gate)
        {
            closed = true;
        }

        await completing.CancelAsync();
        if (loop is not null)
        {
            await loop;
        }
    }

    private async Task SendLoopAsync()
    {
        while (true)
        {
            Task ready;
            lock (gate)
            {
                ready = pending.Count >= MaxBatch ? Task.CompletedTask : batchReady.Task;
            }

            if (!completing.IsCancellationRequested)
            {
                await Task.WhenAny(ready, Task.Delay(FlushInterval, time, completing.Token));
            }

            List<LogLine> batch;
            lock (gate)
            {
                batch = pending.GetRange(0, Math.Min(MaxBatch, pending.Count));
                pending.RemoveRange(0, batch.Count);
                if (batchReady.Task.IsCompleted)
                {
                    batchReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            if (batch.Count == 0)
            {
                if (completing.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            if (!await send(batch))
            {
                lock (gate)
                {
                    closed = true;
                    Stopped = true;
                    Dropped += pending.Count;
                    pending.Clear();
                }

                return;
            }
        }
    }
}
