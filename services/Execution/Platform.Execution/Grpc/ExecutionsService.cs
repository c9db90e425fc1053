using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Persistence;
using Platform.Protos.Execution.V1;
using Core = Platform.Execution.Core;

namespace Platform.Execution.Grpc;

/// <summary>The Execution context's API: maps proto messages to the engine's domain types and back.</summary>
internal sealed class ExecutionsService(IExecutionEngine engine, ExecutionStore store, NpgsqlDataSource dataSource)
    : Executions.ExecutionsBase
{
    private const int MaxIdempotencyKeyLength = 200;

    public override async Task<Protos.Execution.V1.Execution> StartExecution(StartExecutionRequest request, ServerCallContext context)
    {
        var workflowId = Ids.Parse(request.WorkflowId, "workflow");
        if (request.Revision < 0)
        {
            throw new ValidationFailedException("revision", "must be a revision number, or 0 for the latest");
        }

        if (request.IdempotencyKey.Length > MaxIdempotencyKeyLength)
        {
            throw new ValidationFailedException("idempotency_key", $"must be at most {MaxIdempotencyKeyLength} characters");
        }

        var input = request.Input is null ? new JsonObject() : JsonNode.Parse(JsonFormatter.Default.Format(request.Input))!.AsObject();
        var id = await engine.StartAsync(new StartCommand(workflowId, request.Revision, input,
            string.IsNullOrEmpty(request.IdempotencyKey) ? null : request.IdempotencyKey), context.CancellationToken);
        return await LoadAsync(id, context.CancellationToken);
    }

    public override Task<Protos.Execution.V1.Execution> GetExecution(GetExecutionRequest request, ServerCallContext context) =>
        LoadAsync(Ids.Parse(request.Id, "execution"), context.CancellationToken);

    public override async Task<ListExecutionsResponse> ListExecutions(ListExecutionsRequest request, ServerCallContext context)
    {
        Guid? workflowId = null;
        if (!string.IsNullOrEmpty(request.WorkflowId))
        {
            workflowId = Guid.TryParse(request.WorkflowId, out var parsed)
                ? parsed
                : throw new ValidationFailedException("workflow_id", "is not a workflow id");
        }

        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        await using var connection = await dataSource.OpenConnectionAsync(context.CancellationToken);
        var rows = await store.ListAsync(connection, new ExecutionQuery(workflowId, FromProto(request.Status), offset, size));
        var response = new ListExecutionsResponse { NextPageToken = Paging.NextToken(offset, size, rows.Count) };
        response.Executions.AddRange(rows.Select(r => ToProto(r)));
        return response;
    }

    public override async Task<ExecutionHistory> GetExecutionHistory(GetExecutionHistoryRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        await using var connection = await dataSource.OpenConnectionAsync(context.CancellationToken);
        var history = await store.LoadHistoryAsync(connection, null, id, request.AfterSequence);
        if (history.Count == 0 && await store.GetSummaryAsync(connection, id) is null)
        {
            throw new NotFoundException("execution", request.Id);
        }

        var response = new ExecutionHistory { ExecutionId = id.ToString() };
        foreach (var e in history)
        {
            response.Events.Add(new HistoryEvent
            {
                Sequence = e.Sequence,
                Type = e.Type,
                Time = Timestamp.FromDateTimeOffset(e.Time),
                Step = e.Step ?? "",
                Attempt = e.Attempt ?? 0,
                Data = Struct.Parser.ParseJson(e.Data.ToJsonString()),
            });
        }

        return response;
    }

    private async Task<Protos.Execution.V1.Execution> LoadAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var summary = await store.GetSummaryAsync(connection, id) ?? throw new NotFoundException("execution", id.ToString());
        var read = await engine.ReadAsync(id, cancellationToken);
        var execution = ToProto(summary);
        if (read is { } r)
        {
            execution.Steps.AddRange(StepViews.Build(r.State, r.Plan, r.History).Select(ToProto));
        }

        return execution;
    }

    private static Protos.Execution.V1.Execution ToProto(ExecutionSummary s)
    {
        var e = new Protos.Execution.V1.Execution
        {
            Id = s.Id.ToString(),
            WorkflowId = s.WorkflowId.ToString(),
            Revision = s.Revision,
            WorkflowName = s.WorkflowName,
            Status = ToProto(s.Status),
            Input = Struct.Parser.ParseJson(s.Input.ToJsonString()),
            CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt),
            Error = s.Error ?? "",
            IdempotencyKey = s.IdempotencyKey ?? "",
        };
        if (s.FinishedAt is { } finished)
        {
            e.FinishedAt = Timestamp.FromDateTimeOffset(finished);
        }

        return e;
    }

    private static StepExecution ToProto(StepView v)
    {
        var step = new StepExecution
        {
            Name = v.State.Name,
            Status = ToProto(v.State.Status),
            Attempt = v.State.Attempt,
            RunnerId = v.State.RunnerId ?? "",
            Error = v.State.Error ?? "",
            OutputTail = v.OutputTail ?? "",
            Agent = v.Agent,
        };
        step.Requires.AddRange(v.State.DependsOn);
        foreach (var (key, value) in v.State.Outputs)
        {
            step.Outputs[key] = value;
        }
        if (v.State.ExitCode is { } code)
        {
            step.ExitCode = code;
        }

        if (v.StartedAt is { } started)
        {
            step.StartedAt = Timestamp.FromDateTimeOffset(started);
        }

        if (v.FinishedAt is { } finishedAt)
        {
            step.FinishedAt = Timestamp.FromDateTimeOffset(finishedAt);
        }

        return step;
    }

    private static ExecutionStatus ToProto(Core.ExecutionStatus status) => status switch
    {
        Core.ExecutionStatus.Pending => ExecutionStatus.Pending,
        Core.ExecutionStatus.Running => ExecutionStatus.Running,
        Core.ExecutionStatus.Succeeded => ExecutionStatus.Succeeded,
        Core.ExecutionStatus.Failed => ExecutionStatus.Failed,
        Core.ExecutionStatus.Cancelled => ExecutionStatus.Cancelled,
        _ => ExecutionStatus.Unspecified,
    };

    private static Core.ExecutionStatus? FromProto(ExecutionStatus status) => status switch
    {
        ExecutionStatus.Unspecified => null,
        ExecutionStatus.Pending => Core.ExecutionStatus.Pending,
        ExecutionStatus.Running => Core.ExecutionStatus.Running,
        ExecutionStatus.Succeeded => Core.ExecutionStatus.Succeeded,
        ExecutionStatus.Failed => Core.ExecutionStatus.Failed,
        ExecutionStatus.Cancelled => Core.ExecutionStatus.Cancelled,
        _ => throw new ValidationFailedException("status", "is not an execution status"),
    };

    private static StepStatus ToProto(Core.StepStatus status) => status switch
    {
        Core.StepStatus.Pending => StepStatus.Pending,
        Core.StepStatus.Dispatched => StepStatus.Queued,
        Core.StepStatus.Running => StepStatus.Running,
        Core.StepStatus.Succeeded => StepStatus.Succeeded,
        Core.StepStatus.Failed => StepStatus.Failed,
        Core.StepStatus.Skipped => StepStatus.Skipped,
        Core.StepStatus.Cancelled => StepStatus.Cancelled,
        _ => StepStatus.Unspecified,
    };
}
