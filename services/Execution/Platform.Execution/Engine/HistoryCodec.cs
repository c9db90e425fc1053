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

    public static StoredEvent Encode(ExecutionEvent e, JsonObject? details = null)
    {
        var data = details ?? new JsonObject();
        switch (e)
        {
            case ExecutionStarted started:
                var steps = new JsonArray();
                foreach (var step in started.Plan.Steps)
                {
                    steps.Add(new JsonObject
                    {
                        ["name"] = step.Name,
                        ["depends_on"] = new JsonArray(step.DependsOn.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
                    });
                }

                data["steps"] = steps;
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
            default:
                throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "no stored form for this event");
        }
    }

    public static ExecutionEvent Decode(StoredEvent stored)
    {
        var data = stored.Data;
        return stored.Type switch
        {
            ExecutionStartedType => new ExecutionStarted(new ExecutionPlan(
                data["steps"]!.AsArray().Select(s => new PlannedStep(
                    (string)s!["name"]!,
                    s["depends_on"]!.AsArray().Select(d => (string)d!).ToArray())).ToArray())),
            StepDispatchedType => new StepDispatched(stored.Step!, stored.Attempt!.Value),
            StepStartedType => new StepStarted(stored.Step!, stored.Attempt!.Value, (string?)data["runner_id"] ?? ""),
            StepSucceededType => new StepSucceeded(stored.Step!, stored.Attempt!.Value, (int?)data["exit_code"] ?? 0,
                FromJson(data["outputs"] as JsonObject)),
            StepFailedType => new StepFailed(stored.Step!, stored.Attempt!.Value, (int?)data["exit_code"],
                (string?)data["error"] ?? ""),
            ExecutionFinishedType => new ExecutionFinished(ParseStatus((string)data["status"]!), (string?)data["error"]),
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
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static ExecutionStatus ParseStatus(string name) => name switch
    {
        "PENDING" => ExecutionStatus.Pending,
        "RUNNING" => ExecutionStatus.Running,
        "SUCCEEDED" => ExecutionStatus.Succeeded,
        "FAILED" => ExecutionStatus.Failed,
        "CANCELLED" => ExecutionStatus.Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown execution status"),
    };

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
