using System.Globalization;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.Triggers.Domain;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Application;

/// <summary>
/// Fires due schedule slots. Each schedule is handled in one transaction that holds its row lock (replicas skip a
/// locked schedule), records the slot in <c>schedule_fires</c> (its primary key refuses a second fire of the same
/// slot), starts the execution with the idempotency key schedule + slot, and advances the schedule. A crash before
/// the commit leaves the slot due; firing it again calls Start with the same key and gets the same execution.
/// </summary>
public sealed class ScheduleFirer(
    NpgsqlDataSource dataSource, ScheduleStore store, ExecutionStarter executions, TimeProvider clock, IConfiguration configuration,
    ILogger<ScheduleFirer> logger)
{
    /// <summary>How late a slot may fire and still count as on time (a busy worker, a short restart):
    /// <c>Triggers:OnTimeToleranceSeconds</c>, default a minute. Later than that, the catch-up policy decides.</summary>
    private readonly TimeSpan onTimeTolerance = TimeSpan.FromSeconds(configuration.GetValue("Triggers:OnTimeToleranceSeconds", 60.0));

    public static string IdempotencyKey(Guid scheduleId, DateTimeOffset slot) =>
        $"schedule:{scheduleId}:{slot.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}";

    /// <returns>false when no schedule is due (or every due one is being handled by another replica).</returns>
    public async Task<bool> FireNextDueAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var schedule = await store.LockDueAsync(connection, transaction, now);
        if (schedule is null)
        {
            return false;
        }

        var due = schedule.Timing().Due(ScheduleRecord.Utc(schedule.NextFireAt!.Value), now,
            PolicyNames.CatchUp(schedule.CatchUp), onTimeTolerance);
        var buffered = ScheduleRecord.Utc(schedule.BufferedSlot);
        if (due.Fire is { } slot)
        {
            buffered = await FireAsync(connection, transaction, schedule, slot, now, cancellationToken);
        }

        if (due.Missed > 0)
        {
            logger.LogWarning("Schedule {ScheduleId} missed {Missed} slots (catch-up policy {CatchUp})",
                schedule.Id, due.Missed, schedule.CatchUp);
        }

        await store.AdvanceAsync(connection, transaction, schedule.Id, due.Next, buffered);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Starts the slot a buffer_one schedule holds, once the execution it waited for has finished.</summary>
    public async Task StartBufferedAsync(Guid scheduleId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var schedule = await store.LockAsync(connection, transaction, scheduleId);
        if (schedule?.BufferedSlot is not { } slot || await RunningAsync(connection, transaction, schedule, cancellationToken) is not null)
        {
            return;
        }

        await StartSlotAsync(connection, transaction, schedule, ScheduleRecord.Utc(slot), FireOutcomes.Started, cancellationToken);
        await store.AdvanceAsync(connection, transaction, schedule.Id, ScheduleRecord.Utc(schedule.NextFireAt), null);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <returns>the slot left buffered afterwards.</returns>
    private async Task<DateTimeOffset?> FireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        ScheduleRecord schedule, DateTimeOffset slot, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var overlap = PolicyNames.Overlap(schedule.Overlap);
        var buffered = ScheduleRecord.Utc(schedule.BufferedSlot);
        var running = overlap == OverlapPolicy.AllowAll ? null : await RunningAsync(connection, transaction, schedule, cancellationToken);
        if (running is null && buffered is { } waiting)
        {
            // The execution the buffered slot waited for has finished (its finish event may have been lost): the
            // buffered slot runs now, and this slot overlaps with it.
            running = await StartSlotAsync(connection, transaction, schedule, waiting, FireOutcomes.Started, cancellationToken);
            buffered = null;
        }

        var outcome = FireOutcomes.Started;
        if (running is { } executionId)
        {
            switch (overlap)
            {
                case OverlapPolicy.Skip:
                    await store.InsertFireAsync(connection, transaction, schedule.Id, slot, FireOutcomes.Skipped, now);
                    return buffered;
                case OverlapPolicy.BufferOne:
                    // At most one slot waits; a later one is skipped.
                    var outcomeNow = buffered is null ? FireOutcomes.Buffered : FireOutcomes.Skipped;
                    if (await store.InsertFireAsync(connection, transaction, schedule.Id, slot, outcomeNow, now) && buffered is null)
                    {
                        return slot;
                    }

                    return buffered;
                case OverlapPolicy.CancelOther:
                    await executions.CancelAsync(executionId, cancellationToken);
                    await store.MarkFinishedAsync(connection, transaction, executionId, now);
                    outcome = FireOutcomes.CancelledPrevious;
                    break;
            }
        }

        if (await store.InsertFireAsync(connection, transaction, schedule.Id, slot, outcome, now))
        {
            await StartSlotAsync(connection, transaction, schedule, slot, outcome, cancellationToken);
        }

        return buffered;
    }

    /// <returns>the started execution; null when Execution refused it for good (recorded as failed, not retried).</returns>
    private async Task<Guid?> StartSlotAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ScheduleRecord schedule,
        DateTimeOffset slot, string outcome, CancellationToken cancellationToken)
    {
        var input = JsonNode.Parse(schedule.Input)!.AsObject();
        Guid executionId;
        try
        {
            executionId = await executions.StartAsync(schedule.WorkflowId, input, IdempotencyKey(schedule.Id, slot), cancellationToken);
        }
        catch (RpcException ex) when (ExecutionStarter.IsPermanent(ex))
        {
            logger.LogWarning("Schedule {ScheduleId} could not start slot {Slot}: {Reason}", schedule.Id, slot, ex.Status.Detail);
            await store.SetFireStartedAsync(connection, transaction, schedule.Id, slot, FireOutcomes.Failed, null);
            return null;
        }

        await store.SetFireStartedAsync(connection, transaction, schedule.Id, slot, outcome, executionId);
        logger.LogInformation("Schedule {ScheduleId} fired slot {Slot}: execution {ExecutionId}", schedule.Id, slot, executionId);
        return executionId;
    }

    /// <summary>The schedule's execution that is still running, asked of Execution (a finish event lost in flight
    /// must not block the schedule forever).</summary>
    private async Task<Guid?> RunningAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ScheduleRecord schedule,
        CancellationToken cancellationToken)
    {
        while (await store.UnfinishedFireAsync(connection, transaction, schedule.Id) is { ExecutionId: { } executionId })
        {
            if (!await executions.IsFinishedAsync(executionId, cancellationToken))
            {
                return executionId;
            }

            await store.MarkFinishedAsync(connection, transaction, executionId, clock.GetUtcNow());
        }

        return null;
    }
}
