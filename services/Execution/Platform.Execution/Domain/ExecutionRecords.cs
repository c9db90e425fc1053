using System.Text.Json.Nodes;
using Platform.Execution.Core;

namespace Platform.Execution.Domain;

/// <summary>An execution as stored: the row plus, when asked for, its history folded into state.</summary>
public sealed record ExecutionSummary(
    Guid Id,
    Guid WorkflowId,
    int Revision,
    string WorkflowName,
    ExecutionStatus Status,
    JsonObject Input,
    string? IdempotencyKey,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt);

/// <summary>One entry of an execution's history, in the shape the API shows.</summary>
public sealed record HistoryEntry(long Sequence, string Type, DateTimeOffset Time, string? Step, int? Attempt, JsonObject Data);

/// <summary>A step as users see it: the core's state plus when and where it ran.</summary>
public sealed record StepView(
    StepState State,
    string Agent,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string? OutputTail,
    string? WaitingFor);

public sealed record ExecutionView(ExecutionSummary Summary, IReadOnlyList<StepView> Steps);

public sealed record ExecutionQuery(Guid? WorkflowId, ExecutionStatus? Status, int Offset, int Limit);

public sealed record StartCommand(Guid WorkflowId, int Revision, JsonObject Input, string? IdempotencyKey);
