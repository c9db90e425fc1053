using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.BuildingBlocks.Messaging;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;

namespace Platform.Execution.Persistence;

/// <summary>
/// The executions' read model in PostgreSQL, written by the Temporal engine's workflow after each decision: the same
/// tables the embedded engine keeps, so get, list, history and watch (woken by NOTIFY) work alike on both engines,
/// and the execution's bus events go out through the same outbox, in the same transaction as the entries they report.
/// </summary>
public sealed class ExecutionProjection(
    NpgsqlDataSource dataSource,
    ExecutionStore store,
    [FromKeyedServices(ExecutionModule.Schema)] Outbox outbox) : IExecutionProjection
{
    public async Task RecordAsync(DecisionRecord decision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(decision);
        if (decision.Entries.Count == 0)
        {
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var id = decision.ExecutionId;
        if (decision.Plan is { } plan)
        {
            await store.InsertIfMissingAsync(connection, transaction, new ExecutionStore.NewExecution(
                id, plan.WorkflowId, plan.Revision, plan.Name, HistoryCodec.StatusName(ExecutionStatus.Running),
                decision.InputJson ?? "{}", JsonSerializer.Serialize(plan, ExecutionStore.Json), decision.IdempotencyKey,
                decision.Entries[0].Time));
        }

        // The read model's history is a prefix without gaps (the watch stream and the fold rely on it): a hand-over
        // that comes before the one preceding it fails, and Temporal retries it after that one is in.
        var recordedUpTo = await store.LastSequenceAsync(connection, transaction, id);
        if (decision.Entries[0].Sequence > recordedUpTo + 1)
        {
            throw new InvalidOperationException(
                $"execution {id}: entries {decision.Entries[0].Sequence}.. came before {recordedUpTo + 1}..; retry once those are recorded");
        }

        var inserted = await store.AppendEntriesAsync(connection, transaction, id, decision.Entries);
        var last = decision.Entries[^1];
        var finishedAt = decision.Status is "SUCCEEDED" or "FAILED" or "CANCELLED"
            ? decision.Entries.LastOrDefault(e => e.Type == HistoryCodec.ExecutionFinishedType)?.Time ?? last.Time
            : (DateTimeOffset?)null;
        await store.AdvanceAsync(connection, transaction, id, last.Sequence, decision.Status, decision.Error, finishedAt);
        await PublishAsync(connection, transaction, id, decision.Entries.Where(e => inserted.Contains(e.Sequence)).ToList());
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The bus events of the entries this hand-over wrote first (a repeated hand-over publishes nothing).</summary>
    private async Task PublishAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, IReadOnlyList<HistoryEntry> written)
    {
        var started = written.FirstOrDefault(e => e.Type == HistoryCodec.ExecutionStartedType);
        var finishes = written.Where(e => e.Type == HistoryCodec.ExecutionFinishedType).ToList();
        if (started is null && finishes.Count == 0)
        {
            return;
        }

        var (plan, _) = await store.LoadPlanAsync(connection, transaction, id);
        if (started is not null)
        {
            await outbox.AddAsync(connection, transaction, ExecutionMessages.StartedMessageId(id), ExecutionMessages.Started(id, plan, started.Time));
        }

        if (finishes.Count == 0)
        {
            return;
        }

        // The outputs are those of the state at the finish: fold the history up to it.
        var history = await store.LoadHistoryAsync(connection, transaction, id);
        foreach (var finish in finishes)
        {
            var state = HistoryCodec.Fold(history.Where(e => e.Sequence <= finish.Sequence).ToList());
            var finished = (ExecutionFinished)HistoryCodec.Decode(new StoredEvent(finish.Type, finish.Step, finish.Attempt, finish.Data));
            await outbox.AddAsync(connection, transaction, ExecutionMessages.FinishedMessageId(id, finish.Sequence),
                ExecutionMessages.Finished(id, plan, finished, state, finish.Time));
        }
    }
}
