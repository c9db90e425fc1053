using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Definitions.Domain;

namespace Platform.Definitions.Persistence;

/// <summary>The stored form of a compiled DAG (<c>workflow_revisions.dag</c>).</summary>
internal static class DagJson
{
    public static string Write(WorkflowDag dag)
    {
        var steps = new JsonArray();
        foreach (var step in dag.Steps)
        {
            var json = new JsonObject
            {
                ["name"] = step.Name,
                ["depends_on"] = new JsonArray([.. step.DependsOn.Select(d => (JsonNode)d)]),
                ["agent_id"] = step.AgentId.ToString(),
            };
            if (step.With is { } with)
            {
                json["with"] = JsonNode.Parse(with.GetRawText());
            }

            if (step.Options.Count > 0)
            {
                json["options"] = new JsonObject(step.Options.Select(o => KeyValuePair.Create(o.Key, JsonNode.Parse(o.Value.GetRawText()))));
            }

            steps.Add(json);
        }

        return new JsonObject { ["steps"] = steps }.ToJsonString();
    }

    public static WorkflowDag Read(string text)
    {
        using var json = JsonDocument.Parse(text);
        var steps = new List<DagStep>();
        foreach (var step in json.RootElement.GetProperty("steps").EnumerateArray())
        {
            var options = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            if (step.TryGetProperty("options", out var stored))
            {
                foreach (var option in stored.EnumerateObject())
                {
                    options[option.Name] = option.Value.Clone();
                }
            }

            steps.Add(new DagStep(
                step.GetProperty("name").GetString()!,
                [.. step.GetProperty("depends_on").EnumerateArray().Select(d => d.GetString()!)],
                step.GetProperty("agent_id").GetGuid(),
                step.TryGetProperty("with", out var with) ? with.Clone() : null,
                options));
        }

        return new WorkflowDag(steps);
    }
}
