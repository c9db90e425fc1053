using System.Text.Json.Nodes;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Persistence;
using Temporalio.Api.Enums.V1;
using Temporalio.Client;
using Temporalio.Exceptions;

namespace Platform.Execution.Temporal;

/// <summary>
/// The Temporal engine behind the same seam as the embedded one: an execution is an <see cref="ExecutionWorkflow"/>
/// (workflow id = execution id); facts go in as signals; reads are a query.
/// </summary>
/// <remarks>
/// <para>Idempotent start: with an idempotency key the execution id is derived from the workflow id and the key, and
/// Temporal refuses a second workflow of that id (running: the existing one is used; closed: the start is refused and
/// the id answered) for as long as the namespace retains it.</para>
/// <para><see cref="ApplyAsync"/>: job events are signalled and answered true (the workflow admits or refuses them,
/// as the embedded engine would, and applies a message id once). A user's request (cancel, signal, retry) is first
/// checked against the execution's current state (a query), so that the API can refuse what the core would not
/// admit, and signalled only if admitted; the workflow still decides for itself, so a request racing another fact is
/// at worst answered true and then refused by the workflow.</para>
/// </remarks>
public sealed class TemporalExecutionEngine(
    ITemporalClient client, IWorkflowCatalog catalog, NpgsqlDataSource dataSource, ExecutionStore store,
    IOptions<TemporalEngineOptions> options)
    : IExecutionEngine
{
    private readonly TemporalEngineOptions settings = options.Value;

    /// <summary>The execution id of a start with an idempotency key: the same key of the same workflow, the same id.</summary>
    public static Guid ExecutionIdFor(Guid workflowId, string idempotencyKey) =>
        DeterministicGuid.Create("execution", workflowId.ToString(), idempotencyKey);

    /// <summary>
    /// The execution's row is written (in the read model, which keys idempotency as the embedded engine does) in a
    /// transaction that commits only once Temporal has the workflow: a start that fails leaves nothing behind, and a
    /// start that is answered has its execution.
    /// </summary>
    public async Task<Guid> StartAsync(StartCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (command.IdempotencyKey is { } key && await store.FindByIdempotencyKeyAsync(connection, command.WorkflowId, key) is { } existing)
        {
            return existing;
        }

        var plan = await catalog.ResolveForStartAsync(command, cancellationToken);

        var id = command.IdempotencyKey is { } idempotencyKey ? ExecutionIdFor(command.WorkflowId, idempotencyKey) : Guid.CreateVersion7();
        var inputJson = command.Input.ToJsonString();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = await store.InsertAsync(connection, transaction, new ExecutionStore.NewExecution(
            id, plan.WorkflowId, plan.Revision, plan.Name, HistoryCodec.StatusName(ExecutionStatus.Running), inputJson,
            JsonSerializer.Serialize(plan, ExecutionStore.Json), command.IdempotencyKey, DateTimeOffset.UtcNow));
        if (!inserted)
        {
            // Another start with the same key won the race; it is the execution.
            await transaction.RollbackAsync(cancellationToken);
            return (await store.FindByIdempotencyKeyAsync(connection, command.WorkflowId, command.IdempotencyKey!))!.Value;
        }

        var input = new ExecutionWorkflowInput(id, plan, inputJson)
        {
            ContinueAsNewAfterEvents = settings.ContinueAsNewAfterEvents,
            RetryWindow = settings.RetryWindow,
            IdempotencyKey = command.IdempotencyKey,
        };
        try
        {
            await client.StartWorkflowAsync(
                (ExecutionWorkflow wf) => wf.RunAsync(input),
                new WorkflowOptions(id.ToString(), settings.TaskQueue)
                {
                    IdReusePolicy = WorkflowIdReusePolicy.RejectDuplicate,
                    IdConflictPolicy = WorkflowIdConflictPolicy.UseExisting,
                    StaticSummary = $"{plan.Name} (revision {plan.Revision})",
                    Rpc = new RpcOptions { CancellationToken = cancellationToken },
                });
        }
        catch (WorkflowAlreadyStartedException)
        {
            // The workflow of this key exists (its row was lost with a commit that failed after it started).
        }
        catch (Exception e) when (e is TemporalException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            throw new DependencyUnavailableException($"the Temporal server at {settings.Address} did not take the execution: {e.Message}", e);
        }

        await transaction.CommitAsync(cancellationToken);
        return id;
    }

    public async Task<bool> ApplyAsync(Guid executionId, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming,
        Guid messageId, string consumer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(incoming);
        var signals = Signals(incoming, $"{consumer}:{messageId}");
        if (signals.Count == 0)
        {
            return false;
        }

        var handle = client.GetWorkflowHandle<ExecutionWorkflow>(executionId.ToString());
        try
        {
            if (incoming.Any(i => IsRequest(i.Event)))
            {
                var snapshot = await handle.QueryAsync(wf => wf.GetSnapshot(), QueryOptions(cancellationToken));
                if (!WouldAdmit(CoreHistory.Fold(snapshot.History, CoreHistory.ParseInput(snapshot.InputJson)), incoming))
                {
                    return false;
                }
            }

            var rpc = new WorkflowSignalOptions { Rpc = new RpcOptions { CancellationToken = cancellationToken } };
            foreach (var signal in signals)
            {
                await handle.SignalAsync(signal.Name, [signal.Payload], rpc);
            }

            return true;
        }
        catch (RpcException e) when (e.Code == RpcException.StatusCode.NotFound)
        {
            // No such execution, or its workflow has ended (nothing is admitted after the end).
            return false;
        }
    }

    /// <summary>From the read model the workflow keeps (see <see cref="ExecutionActivities.RecordDecisionAsync"/>): reads
    /// need no Temporal round trip, and keep answering while the Temporal server is away.</summary>
    public async Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)?> ReadAsync(
        Guid executionId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await store.ReadAsync(connection, executionId);
    }

    private static WorkflowQueryOptions QueryOptions(CancellationToken cancellationToken) =>
        new() { Rpc = new RpcOptions { CancellationToken = cancellationToken } };

    /// <summary>A cancel, a signal or a retry: requests of a user, answered at once by the API.</summary>
    private static bool IsRequest(ExecutionEvent e) => e is CancelRequested or SignalReceived or RetryRequested;

    /// <summary>What the embedded engine would answer: does the core admit any of the events, in order?</summary>
    private static bool WouldAdmit(ExecutionState state, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming)
    {
        var any = false;
        foreach (var (e, _) in incoming)
        {
            if (Decider.Admits(state, e))
            {
                state = state.Apply(e);
                any = true;
            }
        }

        return any;
    }

    /// <summary>
    /// The signals that carry the facts, in order: consecutive job events of one message go together (a job's start
    /// and end), each request alone. Each gets a message id derived from the bus message's.
    /// </summary>
    internal static IReadOnlyList<OutgoingSignal> Signals(IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming, string messageId)
    {
        var groups = new List<List<(ExecutionEvent Event, JsonObject? Details)>>();
        foreach (var item in incoming)
        {
            var isJobEvent = IsJobEvent(item.Event);
            if (!isJobEvent && !IsRequest(item.Event))
            {
                throw new ArgumentException($"{item.Event.GetType().Name} is not a fact from outside the Temporal engine", nameof(incoming));
            }

            if (isJobEvent && groups.Count > 0 && IsJobEvent(groups[^1][0].Event))
            {
                groups[^1].Add(item);
            }
            else
            {
                groups.Add([item]);
            }
        }

        var signals = new List<OutgoingSignal>(groups.Count);
        for (var i = 0; i < groups.Count; i++)
        {
            var group = groups[i];
            var id = groups.Count == 1 ? messageId : $"{messageId}/{i}";
            signals.Add(group[0].Event switch
            {
                CancelRequested cancel => new OutgoingSignal(ExecutionWorkflow.CancelSignalName, new CancelSignal(cancel.Reason, id)),
                SignalReceived signal => new OutgoingSignal(ExecutionWorkflow.ApprovalSignalName, new ApprovalSignal(signal.Name, signal.Payload, id)),
                RetryRequested => new OutgoingSignal(ExecutionWorkflow.RetrySignalName, new RetrySignal(id)),
                _ => new OutgoingSignal(
                    group.TrueForAll(g => g.Event is StepStarted) ? ExecutionWorkflow.JobStartedSignalName : ExecutionWorkflow.JobFinishedSignalName,
                    new JobEventsSignal(id, group.Select(g => HistoryCodec.Encode(g.Event, g.Details?.DeepClone().AsObject())).ToArray())),
            });
        }

        return signals;
    }

    private static bool IsJobEvent(ExecutionEvent e) =>
        e is StepStarted or StepSucceeded or StepFailed or StepCancelled or CompensationSucceeded or CompensationFailed;
}

/// <summary>A signal to send to an execution's workflow: its name and its one argument.</summary>
internal sealed record OutgoingSignal(string Name, object Payload);
