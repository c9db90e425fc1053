using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Platform.Protos.Execution.V1;

namespace Platform.Triggers.Application;

/// <summary>Execution's gRPC API as Triggers uses it. Every start carries an idempotency key, so a start repeated
/// after a crash or a redelivery returns the execution the first one created.</summary>
public sealed class ExecutionStarter(Executions.ExecutionsClient client)
{
    public async Task<Guid> StartAsync(Guid workflowId, JsonObject input, string idempotencyKey, CancellationToken cancellationToken)
    {
        var execution = await client.StartExecutionAsync(new StartExecutionRequest
        {
            WorkflowId = workflowId.ToString(),
            Input = JsonParser.Default.Parse<Struct>(input.ToJsonString()),
            IdempotencyKey = idempotencyKey,
        }, cancellationToken: cancellationToken);
        return Guid.Parse(execution.Id);
    }

    /// <summary>Whether the execution has reached a final status (an unknown execution counts as finished).</summary>
    public async Task<bool> IsFinishedAsync(Guid executionId, CancellationToken cancellationToken)
    {
        try
        {
            var execution = await client.GetExecutionAsync(new GetExecutionRequest { Id = executionId.ToString() },
                cancellationToken: cancellationToken);
            return execution.Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return true;
        }
    }

    public async Task CancelAsync(Guid executionId, CancellationToken cancellationToken)
    {
        try
        {
            await client.CancelExecutionAsync(new CancelExecutionRequest { Id = executionId.ToString() },
                cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition)
        {
            // Gone or already finished: nothing left to cancel.
        }
    }

    /// <summary>A refusal that no retry changes (the workflow is gone or archived, the input is refused): the
    /// trigger records it instead of trying again.</summary>
    public static bool IsPermanent(RpcException ex) =>
        ex.StatusCode is StatusCode.NotFound or StatusCode.FailedPrecondition or StatusCode.InvalidArgument
            or StatusCode.PermissionDenied;
}
