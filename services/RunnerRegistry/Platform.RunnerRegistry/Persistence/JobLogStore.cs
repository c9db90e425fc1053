using System.Data;
using System.Text;
using Dapper;
using Npgsql;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Persistence;

/// <summary>Job logs in <c>runners.job_logs</c>, bounded per job by the counters on the job's row.</summary>
internal sealed class JobLogStore(NpgsqlDataSource dataSource)
{
    /// <summary>NOTIFY channel pulsed whenever lines are stored or a job ends; GetJobLogs long polls sleep on it.</summary>
    public const string LogsChannel = "runners_logs";

    public const string NotifyLogs = $"SELECT pg_notify('{LogsChannel}', '')";

    /// <summary>
    /// Stores the lines of a lease the runner holds, within the job's bound; false (nothing stored) when the runner
    /// does not hold the job at that attempt. The job's row is locked first: appends to one job are serialized, so
    /// the job's sequences commit in order (a reader following the log never skips a line committed later) and the
    /// counters are exact. Lines stored before (a retried call) are skipped; past the bound one <c>system</c> marker is
    /// stored and the rest dropped.
    /// </summary>
    public async Task<bool> AppendAsync(Guid runnerId, Guid jobId, int attempt, IReadOnlyList<NewLogLine> lines,
        int maxLines, long maxBytes, CancellationToken cancellationToken)
    {
        const string lockHeld = """
            SELECT log_lines AS Lines, log_bytes AS Bytes, log_truncated AS Truncated FROM runners.jobs
            WHERE id = @jobId AND attempt = @attempt AND runner_id = @runnerId AND state IN ('leased', 'running')
            FOR UPDATE
            """;
        const string stored = """
            SELECT runner_sequence FROM runners.job_logs
            WHERE job_id = @jobId AND attempt = @attempt AND runner_sequence = ANY(@sequences)
            """;
        const string insert = $"""
            INSERT INTO runners.job_logs (job_id, attempt, runner_sequence, stream, text, time)
            SELECT @jobId, @attempt, l.seq, l.stream, l.text, l.time
            FROM unnest(@sequences::bigint[], @streams::text[], @texts::text[], @times::timestamptz[])
                 WITH ORDINALITY AS l(seq, stream, text, time, ord)
            ORDER BY l.ord
            ON CONFLICT (job_id, attempt, runner_sequence) DO NOTHING;

            UPDATE runners.jobs
            SET log_lines = log_lines + @addedLines, log_bytes = log_bytes + @addedBytes, log_truncated = @truncated
            WHERE id = @jobId;

            {NotifyLogs};
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var counters = await connection.QuerySingleOrDefaultAsync<CountersRow>(new CommandDefinition(lockHeld,
            new { runnerId, jobId, attempt }, transaction, cancellationToken: cancellationToken));
        if (counters is null)
        {
            return false;
        }

        if (counters.Truncated || lines.Count == 0)
        {
            return true; // past the bound: accepted, dropped
        }

        var already = (await connection.QueryAsync<long>(new CommandDefinition(stored, new
        {
            jobId,
            attempt,
            sequences = lines.Select(l => l.RunnerSequence).ToArray(),
        }, transaction, cancellationToken: cancellationToken))).ToHashSet();

        var count = counters.Lines;
        var bytes = counters.Bytes;
        var truncated = false;
        var toStore = new List<NewLogLine>();
        foreach (var line in lines.Where(l => !already.Contains(l.RunnerSequence)).DistinctBy(l => l.RunnerSequence)
                     .OrderBy(l => l.RunnerSequence))
        {
            var size = Encoding.UTF8.GetByteCount(line.Text);
            if (count + 1 > maxLines || bytes + size > maxBytes)
            {
                var marker = JobLogLimits.TruncatedMarker(maxLines, maxBytes);
                toStore.Add(new NewLogLine(0, LogStreams.System, marker, line.Time));
                count++;
                bytes += Encoding.UTF8.GetByteCount(marker);
                truncated = true;
                break;
            }

            toStore.Add(line);
            count++;
            bytes += size;
        }

        if (toStore.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(insert, new
            {
                jobId,
                attempt,
                sequences = toStore.Select(l => l.RunnerSequence).ToArray(),
                streams = toStore.Select(l => l.Stream).ToArray(),
                texts = toStore.Select(l => l.Text).ToArray(),
                times = toStore.Select(l => l.Time.UtcDateTime).ToArray(),
                addedLines = count - counters.Lines,
                addedBytes = bytes - counters.Bytes,
                truncated,
            }, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// The job's state, then up to <paramref name="limit"/> + 1 lines after <paramref name="afterSequence"/> (the extra
    /// one tells whether more follow); null when the job is unknown. The state is read first, in its own snapshot: a
    /// job seen finished takes no more appends (they need it held), so the lines read next are all it will ever have.
    /// </summary>
    public async Task<(JobStatus Status, IReadOnlyList<JobLogLine> Lines)?> ReadAsync(Guid jobId, long afterSequence,
        int limit, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT state FROM runners.jobs WHERE id = @jobId;

            SELECT sequence AS Sequence, attempt AS Attempt, stream AS Stream, text AS Text, time AS Time
            FROM runners.job_logs
            WHERE job_id = @jobId AND sequence > @afterSequence
            ORDER BY sequence
            LIMIT @take;
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(sql,
            new { jobId, afterSequence, take = limit + 1 }, cancellationToken: cancellationToken));
        var state = await results.ReadSingleOrDefaultAsync<string>();
        var lines = (await results.ReadAsync<LineRow>()).Select(r => r.ToLine()).ToList();
        return state is null ? null : (JobStatuses.FromDb(state), lines);
    }

    /// <summary>Pulses <see cref="LogsChannel"/> in the caller's transaction (a job ended: its followers must look).</summary>
    public static Task NotifyAsync(IDbConnection connection, IDbTransaction transaction) =>
        connection.ExecuteAsync(new CommandDefinition(NotifyLogs, transaction: transaction));

    private sealed record CountersRow(int Lines, long Bytes, bool Truncated);

    private sealed record LineRow(long Sequence, int Attempt, string Stream, string Text, DateTime Time)
    {
        public JobLogLine ToLine() => new(Sequence, Attempt, Stream, Text, RunnerStore.Utc(Time));
    }
}
