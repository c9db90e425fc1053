using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.BuildingBlocks.Errors;
using Platform.BuildingBlocks.Persistence;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// Job logs: runners append ordered chunks while they hold a job; anyone reads them, now or after the runner is gone.
/// Follow mode is a long poll sleeping on the <c>runners_logs</c> NOTIFY channel, pulsed by every append and every
/// job's end — no polling interval.
/// </summary>
internal sealed class JobLogs
{
    private readonly NpgsqlDataSource dataSource;
    private readonly JobLogStore store;
    private readonly JobStore jobs;
    private readonly RunnerRegistryOptions options;
    private readonly TimeProvider time;
    private readonly IHostApplicationLifetime lifetime;
    private readonly Signal logsChanged;

    public JobLogs(NpgsqlDataSource dataSource, JobLogStore store, JobStore jobs, PgNotificationHub notifications,
        IOptions<RunnerRegistryOptions> options, TimeProvider time, IHostApplicationLifetime lifetime)
    {
        this.dataSource = dataSource;
        this.store = store;
        this.jobs = jobs;
        this.options = options.Value;
        this.time = time;
        this.lifetime = lifetime;
        // Subscribed at construction (before the hosts start) so the first LISTEN already includes the channel.
        logsChanged = notifications.Channel(JobLogStore.LogsChannel);
    }

    /// <summary>Stores lines of the lease the runner holds (idempotent by runner sequence, bounded per job).</summary>
    /// <exception cref="PermissionDeniedException">the runner does not hold the job at that attempt.</exception>
    public async Task AppendAsync(AuthenticatedRunner runner, Guid jobId, int attempt, IReadOnlyList<NewLogLine> lines,
        CancellationToken cancellationToken)
    {
        var cut = lines.Select(l => l with { Text = JobLogLimits.CutLine(l.Text) }).ToList();
        if (await store.AppendAsync(runner.Id, jobId, attempt, cut, options.MaxLogLinesPerJob, options.MaxLogBytesPerJob,
                cancellationToken))
        {
            if (cut.Count > 0)
            {
                logsChanged.Pulse(); // this process's followers need not wait for the NOTIFY round trip
            }

            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var current = await jobs.GetOwnershipAsync(connection, transaction, jobId)
                      ?? throw new NotFoundException("job", jobId.ToString());
        throw JobOwnership.NotHeld(jobId, attempt, current);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> lines after <paramref name="afterSequence"/>; with a wait, held until a line
    /// arrives or the job ends (or the wait or the host ends: then whatever there is, possibly nothing).
    /// </summary>
    public async Task<JobLogPage> ReadAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        while (true)
        {
            // Taken before looking, so a line committed between the look and the wait still wakes us.
            var wake = logsChanged.Next;
            var read = await store.ReadAsync(jobId, afterSequence, limit, cancellationToken)
                       ?? throw new NotFoundException("job", jobId.ToString());
            var (status, lines) = read;
            var page = new JobLogPage(lines.Take(limit).ToList(), status.IsFinished() && lines.Count <= limit);
            if (page.Lines.Count > 0 || page.Complete)
            {
                return page;
            }

            var remaining = wait - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return page;
            }

            try
            {
                await wake.WaitAsync(remaining, time, stop.Token);
            }
            catch (TimeoutException)
            {
                return page;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return page; // the host is stopping: answer now rather than hold shutdown
            }
        }
    }
}
