using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Definitions.Domain;

namespace Platform.Definitions.Persistence;

/// <summary>
/// The stored form of a compiled DAG (<c>workflow_revisions.dag</c>). Version 2 holds each step's type, condition,
/// resolved retry policy, timeout, continue_on_failure and compensation, and the workflow's timeout. A DAG stored
/// before (no <c>version</c>) has agent steps only and may carry an <c>options</c> map of the keys that were then
/// stored without being acted on: it reads back as it was resolved then, with those options not acted on.
/// </summary>
public static class DagJson
{
    private const int Version = 2;

    public static string Write(WorkflowDag dag)
    {
        var steps = new JsonArray();
        foreach (var step in dag.Steps)
        {
            var json = new JsonObject
            {
                ["name"] = step.Name,
                ["depends_on"] = new JsonArray([.. step.DependsOn.Select(d => (JsonNode)d)]),
                ["type"] = step.Type,
            };
            if (step.AgentId is { } agentId)
            {
                json["agent_id"] = agentId.ToString();
            }

            if (step.With is { } with)
            {
                json["with"] = JsonNode.Parse(with.GetRawText());
            }

            if (step.If.Length > 0)
            {
                json["if"] = step.If;
            }

            if (step.Retry is { } retry)
            {
                json["retry"] = new JsonObject
                {
                    ["max_attempts"] = retry.MaxAttempts,
                    ["initial_ms"] = retry.InitialMs,
                    ["max_ms"] = retry.MaxMs,
                    ["multiplier"] = retry.Multiplier,
                    ["jitter"] = retry.Jitter,
                    ["non_retryable_exit_codes"] = new JsonArray([.. retry.NonRetryableExitCodes.Select(c => (JsonNode)c)]),
                };
            }

            if (step.TimeoutMs > 0)
            {
                json["timeout_ms"] = step.TimeoutMs;
            }

            if (step.ContinueOnFailure)
            {
                json["continue_on_failure"] = true;
            }

            if (step.Compensation is { } compensation)
            {
                var c = new JsonObject { ["agent_id"] = compensation.AgentId.ToString() };
                if (compensation.With is { } compensationWith)
                {
                    c["with"] = JsonNode.Parse(compensationWith.GetRawText());
                }

                json["compensate"] = c;
            }

            steps.Add(json);
        }

        var root = new JsonObject { ["version"] = Version, ["steps"] = steps };
        if (dag.TimeoutMs > 0)
        {
            root["timeout_ms"] = dag.TimeoutMs;
        }

        return root.ToJsonString();
    }

    public static WorkflowDag Read(string text)
    {
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        var steps = new List<DagStep>();
        foreach (var step in root.GetProperty("steps").EnumerateArray())
        {
            var dagStep = new DagStep(
                step.GetProperty("name").GetString()!,
                [.. step.GetProperty("depends_on").EnumerateArray().Select(d => d.GetString()!)],
                step.TryGetProperty("type", out var type) ? type.GetString()! : StepItem.AgentType,
                step.TryGetProperty("agent_id", out var agentId) ? agentId.GetGuid() : null,
                step.TryGetProperty("with", out var with) ? with.Clone() : null);
            if (root.TryGetProperty("version", out _))
            {
                dagStep = dagStep with
                {
                    If = step.TryGetProperty("if", out var condition) ? condition.GetString()! : "",
                    Retry = step.TryGetProperty("retry", out var retry) ? ReadRetry(retry) : null,
                    TimeoutMs = step.TryGetProperty("timeout_ms", out var timeout) ? timeout.GetInt64() : 0,
                    ContinueOnFailure = step.TryGetProperty("continue_on_failure", out var continueOnFailure) &&
                        continueOnFailure.GetBoolean(),
                    Compensation = step.TryGetProperty("compensate", out var compensate)
                        ? new DagCompensation(compensate.GetProperty("agent_id").GetGuid(),
                            compensate.TryGetProperty("with", out var compensationWith) ? compensationWith.Clone() : null)
                        : null,
                };
            }

            steps.Add(dagStep);
        }

        return new WorkflowDag(steps, root.TryGetProperty("timeout_ms", out var workflowTimeout) ? workflowTimeout.GetInt64() : 0);
    }

    private static DagRetry ReadRetry(JsonElement retry) => new(
        retry.GetProperty("max_attempts").GetInt32(),
        retry.GetProperty("initial_ms").GetInt64(),
        retry.GetProperty("max_ms").GetInt64(),
        retry.GetProperty("multiplier").GetDouble(),
        retry.GetProperty("jitter").GetBoolean(),
        [.. retry.GetProperty("non_retryable_exit_codes").EnumerateArray().Select(c => c.GetInt32())]);
}
