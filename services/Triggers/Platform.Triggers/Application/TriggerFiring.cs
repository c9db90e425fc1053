using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Platform.Triggers.Domain;

namespace Platform.Triggers.Application;

/// <summary>What a payload did: started an execution, was filtered out, or could not start one for good.</summary>
public sealed record FiringResult(string Outcome, Guid? ExecutionId, string? Detail)
{
    public const string Started = "started";
    public const string Filtered = "filtered";
    public const string Failed = "failed";
}

/// <summary>A payload through a trigger's filter and mapping into an idempotent start of its workflow.</summary>
public sealed class TriggerFiring(ExecutionStarter executions, ILogger<TriggerFiring> logger)
{
    public static PayloadMapping MappingOf(TriggerRecord trigger) =>
        PayloadMapping.Create(trigger.InputMapping is { } m ? JsonNode.Parse(m)?.AsObject() : null, trigger.Filter);

    public Task<FiringResult> FireAsync(TriggerRecord trigger, JsonElement payload, string idempotencyKey,
        CancellationToken cancellationToken) => FireAsync(trigger, MappingOf(trigger), payload, idempotencyKey, cancellationToken);

    /// <param name="starts">When given, the start waits for one of its slots (a payload the filter drops does not).</param>
    public async Task<FiringResult> FireAsync(TriggerRecord trigger, PayloadMapping mapping, JsonElement payload, string idempotencyKey,
        CancellationToken cancellationToken, SemaphoreSlim? starts = null)
    {
        if (!mapping.Accepts(payload))
        {
            return new FiringResult(FiringResult.Filtered, null, "the trigger's filter is false for this payload");
        }

        if (starts is not null)
        {
            await starts.WaitAsync(cancellationToken);
        }

        try
        {
            var executionId = await executions.StartAsync(trigger.WorkflowId, mapping.Map(payload), idempotencyKey, cancellationToken);
            return new FiringResult(FiringResult.Started, executionId, null);
        }
        catch (RpcException ex) when (ExecutionStarter.IsPermanent(ex))
        {
            logger.LogWarning("Trigger {TriggerId} could not start workflow {WorkflowId}: {Reason}",
                trigger.Id, trigger.WorkflowId, ex.Status.Detail);
            return new FiringResult(FiringResult.Failed, null, ex.Status.Detail);
        }
        finally
        {
            starts?.Release();
        }
    }
}
