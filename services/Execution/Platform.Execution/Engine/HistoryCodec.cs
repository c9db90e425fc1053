using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Execution.Core;

namespace Platform.Execution.Engine;

/// <summary>
/// An event of the core as stored in <c>execution.events</c>: the core's fields plus details the core does not need
/// (times reported by the runner, output tail, job id) that the API shows.
/// </summary>
public sealed record StoredEvent(string Type, string? Step, int? Attempt, JsonObject Data);

/// <summary>Maps the core's events to their stored form and back. The type names are the API's history types.</summary>
public static class HistoryCodec
{
    public const string ExecutionStartedType = "EXECUTION_STARTED";
    public const string StepDispatchedType = "STEP_DISPATCHED";
    public const string StepStartedType = "STEP_STARTED";
    public const string StepSucceededType = "STEP_SUCCEEDED";
    public const string StepFailedType = "STEP_FAILED";
    public const string ExecutionFinishedType = "EXECUTION_FINISHED";
    public const string TimerScheduledType = "TIMER_SCHEDULED";
    public const string TimerFiredType = "TIMER_FIRED";
    public const string StepCancelRequestedType = "STEP_CANCEL_REQUESTED";
    public const string StepCancelledType = "STEP_CANCELLED";
    public const string ApprovalRequestedType = "APPROVAL_REQUESTED";
    public const string SignalReceivedType = "SIGNAL_RECEIVED";
    public const string CancelRequestedType = "CANCEL_REQUESTED";
    public const string RetryRequestedType = "RETRY_REQUESTED";
    public const string CompensationDispatchedType = "COMPENSATION_DISPATCHED";
    public const string CompensationSucceededType = "COMPENSATION_SUCCEEDED";
    public const string CompensationFailedType = "COMPENSATION_FAILED";
    public const string StepSkippedType = "STEP_SKIPPED";

    public static StoredEvent Encode(ExecutionEvent e, JsonObject? details = null)
    {
        var data = details ?? new JsonObject();
        switch (e)
        {
            case ExecutionStarted started:
                // The whole plan: a fold from the stored history must see exactly what the live decision saw.
                var steps = new JsonArray();
                foreach (var step in started.Plan.Steps)
                {
                    var planned = new JsonObject
                    {
                        ["name"] = step.Name,
                        ["depends_on"] = new JsonArray(step.DependsOn.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
                    };
                    if (step.Kind != StepKind.Agent)
                    {
                        planned["kind"] = step.Kind.ToString();
                    }

                    if (step.Retry is { } retry)
                    {
                        planned["retry"] = new JsonObject
                        {
                            ["max_attempts"] = retry.MaxAttempts,
                            ["initial_ticks"] = retry.Initial.Ticks,
                            ["max_ticks"] = retry.Max.Ticks,
                            ["multiplier"] = retry.Multiplier,
                            ["jitter"] = retry.Jitter,
                            ["non_retryable_exit_codes"] = new JsonArray(retry.NonRetryableExitCodes.Select(c => (JsonNode)JsonValue.Create(c)).ToArray()),
                        };
                    }

                    if (step.Timeout is { } timeout)
                    {
                        planned["timeout_ticks"] = timeout.Ticks;
                    }

                    if (step.ContinueOnFailure)
                    {
                        planned["continue_on_failure"] = true;
                    }

                    if (step.HasCompensation)
                    {
                        planned["has_compensation"] = true;
                    }

                    if (step.Condition is { } condition)
                    {
                        planned["condition"] = condition;
                    }

                    steps.Add(planned);
                }

                data["steps"] = steps;
                if (started.Plan.Timeout is { } executionTimeout)
                {
                    data["timeout_ticks"] = executionTimeout.Ticks;
                }

                if (started.Input is { } input)
                {
                    data["input"] = JsonNode.Parse(input.GetRawText());
                }

                return new StoredEvent(ExecutionStartedType, null, null, data);
            case StepDispatched dispatched:
                return new StoredEvent(StepDispatchedType, dispatched.Step, dispatched.Attempt, data);
            case StepStarted stepStarted:
                data["runner_id"] = stepStarted.RunnerId;
                return new StoredEvent(StepStartedType, stepStarted.Step, stepStarted.Attempt, data);
            case StepSucceeded succeeded:
                data["exit_code"] = succeeded.ExitCode;
                data["outputs"] = ToJson(succeeded.Outputs);
                return new StoredEvent(StepSucceededType, succeeded.Step, succeeded.Attempt, data);
            case StepFailed failed:
                data["exit_code"] = failed.ExitCode;
                data["error"] = failed.Error;
                return new StoredEvent(StepFailedType, failed.Step, failed.Attempt, data);
            case ExecutionFinished finished:
                data["status"] = StatusName(finished.Status);
                data["error"] = finished.Error;
                return new StoredEvent(ExecutionFinishedType, null, null, data);
            case TimerScheduled scheduled:
                data["timer_id"] = scheduled.TimerId;
                data["delay_ticks"] = scheduled.Delay.Ticks;
                return new StoredEvent(TimerScheduledType, TimerStep(scheduled.TimerId), null, data);
            case TimerFired fired:
                data["timer_id"] = fired.TimerId;
                return new StoredEvent(TimerFiredType, TimerStep(fired.TimerId), null, data);
            case JobCancelRequested cancelRequested:
                return new StoredEvent(StepCancelRequestedType, cancelRequested.Step, cancelRequested.Attempt, data);
            case StepCancelled cancelled:
                return new StoredEvent(StepCancelledType, cancelled.Step, cancelled.Attempt, data);
            case ApprovalRequested approval:
                return new StoredEvent(ApprovalRequestedType, approval.Step, null, data);
            case SignalReceived signal:
                data["payload"] = ToJson(signal.Payload);
                return new StoredEvent(SignalReceivedType, signal.Name, null, data);
            case CancelRequested cancel:
                data["reason"] = cancel.Reason;
                return new StoredEvent(CancelRequestedType, null, null, data);
            case RetryRequested:
                return new StoredEvent(RetryRequestedType, null, null, data);
            case CompensationDispatched compensation:
                return new StoredEvent(CompensationDispatchedType, compensation.Step, null, data);
            case CompensationSucceeded compensated:
                return new StoredEvent(CompensationSucceededType, compensated.Step, null, data);
            case StepSkipped skipped:
                data["reason"] = skipped.Reason;
                return new StoredEvent(StepSkippedType, skipped.Step, null, data);
            case CompensationFailed compensationFailed:
                data["error"] = compensationFailed.Error;
                return new StoredEvent(CompensationFailedType, compensationFailed.Step, null, data);
            default:
                throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "no stored form for this event");
        }
    }

    public static ExecutionEvent Decode(StoredEvent stored)
    {
        var data = stored.Data;
        return stored.Type switch
        {
            ExecutionStartedType => new ExecutionStarted(DecodePlan(data))
            {
                Input = data["input"] is { } input ? JsonSerializer.SerializeToElement(input) : null,
            },
            StepDispatchedType => new StepDispatched(stored.Step!, stored.Attempt!.Value),
            StepStartedType => new StepStarted(stored.Step!, stored.Attempt!.Value, (string?)data["runner_id"] ?? ""),
            StepSucceededType => new StepSucceeded(stored.Step!, stored.Attempt!.Value, (int?)data["exit_code"] ?? 0,
                FromJson(data["outputs"] as JsonObject)),
            StepFailedType => new StepFailed(stored.Step!, stored.Attempt!.Value, (int?)data["exit_code"],
                (string?)data["error"] ?? ""),
            ExecutionFinishedType => new ExecutionFinished(ParseStatus((string)data["status"]!), (string?)data["error"]),
            TimerScheduledType => new TimerScheduled((string)data["timer_id"]!, TimeSpan.FromTicks((long)data["delay_ticks"]!)),
            TimerFiredType => new TimerFired((string)data["timer_id"]!),
            StepCancelRequestedType => new JobCancelRequested(stored.Step!, stored.Attempt!.Value),
            StepCancelledType => new StepCancelled(stored.Step!, stored.Attempt!.Value),
            ApprovalRequestedType => new ApprovalRequested(stored.Step!),
            SignalReceivedType => new SignalReceived(stored.Step!, FromJson(data["payload"] as JsonObject)),
            CancelRequestedType => new CancelRequested((string?)data["reason"]),
            RetryRequestedType => new RetryRequested(),
            CompensationDispatchedType => new CompensationDispatched(stored.Step!),
            CompensationSucceededType => new CompensationSucceeded(stored.Step!),
            CompensationFailedType => new CompensationFailed(stored.Step!, (string?)data["error"] ?? ""),
            StepSkippedType => new StepSkipped(stored.Step!, (string?)data["reason"] ?? ""),
            _ => throw new InvalidOperationException($"unknown history event type '{stored.Type}'"),
        };
    }

    /// <summary>The core's state after the stored history.</summary>
    public static ExecutionState Fold(IEnumerable<Domain.HistoryEntry> history)
    {
        var state = ExecutionState.Initial;
        foreach (var entry in history)
        {
            state = state.Apply(Decode(new StoredEvent(entry.Type, entry.Step, entry.Attempt, entry.Data)));
        }

        return state;
    }

    public static string StatusName(ExecutionStatus status) => status switch
    {
        ExecutionStatus.Pending => "PENDING",
        ExecutionStatus.Running => "RUNNING",
        ExecutionStatus.Succeeded => "SUCCEEDED",
        ExecutionStatus.Failed => "FAILED",
        ExecutionStatus.Cancelled => "CANCELLED",
        ExecutionStatus.Compensating => "COMPENSATING",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static ExecutionStatus ParseStatus(string name) => name switch
    {
        "PENDING" => ExecutionStatus.Pending,
        "RUNNING" => ExecutionStatus.Running,
        "SUCCEEDED" => ExecutionStatus.Succeeded,
        "FAILED" => ExecutionStatus.Failed,
        "CANCELLED" => ExecutionStatus.Cancelled,
        "COMPENSATING" => ExecutionStatus.Compensating,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown execution status"),
    };

    private static ExecutionPlan DecodePlan(JsonObject data)
    {
        var steps = data["steps"]!.AsArray().Select(node =>
        {
            var s = node!.AsObject();
            var retry = s["retry"] as JsonObject;
            return new PlannedStep((string)s["name"]!, s["depends_on"]!.AsArray().Select(d => (string)d!).ToArray())
            {
                Kind = (string?)s["kind"] is { } kind ? Enum.Parse<StepKind>(kind) : StepKind.Agent,
                Retry = retry is null
                    ? null
                    : new RetryPolicy(
                        (int)retry["max_attempts"]!,
                        TimeSpan.FromTicks((long)retry["initial_ticks"]!),
                        TimeSpan.FromTicks((long)retry["max_ticks"]!),
                        (double)retry["multiplier"]!,
                        (bool)retry["jitter"]!,
                        retry["non_retryable_exit_codes"]!.AsArray().Select(c => (int)c!).ToArray()),
                Timeout = (long?)s["timeout_ticks"] is { } ticks ? TimeSpan.FromTicks(ticks) : null,
                ContinueOnFailure = (bool?)s["continue_on_failure"] ?? false,
                HasCompensation = (bool?)s["has_compensation"] ?? false,
                Condition = (string?)s["condition"],
            };
        }).ToArray();
        return new ExecutionPlan(steps)
        {
            Timeout = (long?)data["timeout_ticks"] is { } ticks ? TimeSpan.FromTicks(ticks) : null,
        };
    }

    /// <summary>The step a timer belongs to, for the history's step column (null for the execution's own).</summary>
    private static string? TimerStep(string timerId) => TimerIds.StepOf(timerId);

    private static JsonObject ToJson(IReadOnlyDictionary<string, string> map)
    {
        var json = new JsonObject();
        foreach (var (key, value) in map)
        {
            json[key] = value;
        }

        return json;
    }

    private static Dictionary<string, string> FromJson(JsonObject? json)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (json is not null)
        {
            foreach (var (key, value) in json)
            {
                map[key] = value?.GetValue<string>() ?? "";
            }
        }

        return map;
    }
}
