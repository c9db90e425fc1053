using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.BuildingBlocks.Errors;

namespace Platform.Definitions.Domain;

/// <summary>
/// The workflow document as a JSON tree, both ways: reading is strict (an unknown key is an error naming it, so a
/// typo is caught) and is shared by YAML import and stored revisions; writing gives the normalised form stored with
/// each revision. Keys are the language's snake_case names.
/// </summary>
public static class WorkflowDocumentJson
{
    private static readonly string[] DocumentKeys = ["name", "description", "team_id", "steps", "parallel", "trigger"];
    private static readonly string[] StepKeys =
        ["name", "type", "agent", "agent_id", "requires", "parallel", "with", .. StepItem.ReservedKeys];
    private static readonly string[] TriggerKeys = ["type", "source", "cron", "timezone"];

    /// <exception cref="ValidationFailedException">when the tree is not a workflow document; field paths like
    /// <c>steps[2].requires[0]</c>, and <paramref name="rootField"/> for the document as a whole.</exception>
    public static WorkflowDocument Read(JsonNode? root, string rootField)
    {
        if (root is not JsonObject document)
        {
            throw new ValidationFailedException(rootField, "must be a workflow document: a mapping with name, steps, ...");
        }

        var reader = new Reader();
        var result = reader.Document(document);
        return reader.Violations.Count > 0 ? throw new ValidationFailedException(reader.Violations) : result;
    }

    /// <summary>Reads a document stored by <see cref="Write"/>.</summary>
    public static WorkflowDocument Parse(string json) => Read(JsonNode.Parse(json), "document");

    public static string Write(WorkflowDocument document) => ToJson(document).ToJsonString();

    public static JsonObject ToJson(WorkflowDocument document)
    {
        var json = new JsonObject { ["name"] = document.Name, ["description"] = document.Description };
        if (document.TeamId is not null)
        {
            json["team_id"] = document.TeamId;
        }

        json["steps"] = new JsonArray([.. document.Steps.Select(ToJson)]);
        if (document.Parallel.Count > 0)
        {
            json["parallel"] = new JsonArray([.. document.Parallel.Select(ToJson)]);
        }

        if (document.Trigger is { } trigger)
        {
            var t = new JsonObject { ["type"] = trigger.Type };
            AddIfSet(t, "source", trigger.Source);
            AddIfSet(t, "cron", trigger.Cron);
            AddIfSet(t, "timezone", trigger.Timezone);
            json["trigger"] = t;
        }

        return json;
    }

    private static JsonObject ToJson(StepItem step)
    {
        var json = new JsonObject();
        AddIfSet(json, "name", step.Name);
        AddIfSet(json, "type", step.Type);
        AddIfSet(json, "agent_id", step.AgentId);
        AddIfSet(json, "agent", step.Agent);
        if (step.Requires is { } requires)
        {
            json["requires"] = new JsonArray([.. requires.Select(r => (JsonNode)r)]);
        }

        if (step.Parallel is { } members)
        {
            json["parallel"] = new JsonArray([.. members.Select(ToJson)]);
        }

        if (step.With is { } with)
        {
            json["with"] = JsonNode.Parse(with.GetRawText());
        }

        foreach (var key in StepItem.ReservedKeys)
        {
            if (step.Options.TryGetValue(key, out var value))
            {
                json[key] = JsonNode.Parse(value.GetRawText());
            }
        }

        return json;
    }

    private static void AddIfSet(JsonObject json, string key, string value)
    {
        if (value.Length > 0)
        {
            json[key] = value;
        }
    }

    private sealed class Reader
    {
        public List<FieldViolation> Violations { get; } = [];

        public WorkflowDocument Document(JsonObject json)
        {
            CheckKeys(json, "", DocumentKeys);
            return new WorkflowDocument
            {
                Name = String(json, "", "name") ?? "",
                Description = String(json, "", "description") ?? "",
                TeamId = String(json, "", "team_id"),
                Steps = Items(json, "", "steps") ?? [],
                Parallel = Items(json, "", "parallel") ?? [],
                Trigger = Trigger(json),
            };
        }

        private WorkflowTrigger? Trigger(JsonObject parent)
        {
            switch (parent["trigger"])
            {
                case null:
                    return null;
                case JsonObject json:
                    CheckKeys(json, "trigger", TriggerKeys);
                    return new WorkflowTrigger(
                        String(json, "trigger", "type") ?? "",
                        String(json, "trigger", "source") ?? "",
                        String(json, "trigger", "cron") ?? "",
                        String(json, "trigger", "timezone") ?? "");
                default:
                    Violations.Add(new("trigger", "must be a mapping (type, source, ...)"));
                    return null;
            }
        }

        private List<StepItem>? Items(JsonObject parent, string parentPath, string key)
        {
            var path = Join(parentPath, key);
            switch (parent[key])
            {
                case null:
                    return null;
                case JsonArray array:
                    var items = new List<StepItem>();
                    for (var i = 0; i < array.Count; i++)
                    {
                        if (array[i] is JsonObject step)
                        {
                            items.Add(Step(step, $"{path}[{i}]"));
                        }
                        else
                        {
                            Violations.Add(new($"{path}[{i}]", "must be a step: a mapping with name, agent, ..."));
                        }
                    }

                    return items;
                default:
                    Violations.Add(new(path, "must be a list of steps"));
                    return null;
            }
        }

        private StepItem Step(JsonObject json, string path)
        {
            CheckKeys(json, path, StepKeys);
            var options = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var key in StepItem.ReservedKeys)
            {
                if (json.TryGetPropertyValue(key, out var value))
                {
                    options[key] = JsonSerializer.SerializeToElement(value);
                }
            }

            return new StepItem
            {
                Name = String(json, path, "name") ?? "",
                Type = String(json, path, "type") ?? "",
                Agent = String(json, path, "agent") ?? "",
                AgentId = String(json, path, "agent_id") ?? "",
                Requires = Requires(json, path),
                Parallel = Items(json, path, "parallel"),
                With = With(json, path),
                Options = options,
            };
        }

        private List<string>? Requires(JsonObject json, string path)
        {
            switch (json["requires"])
            {
                case null:
                    return null;
                case JsonArray array:
                    var names = new List<string>();
                    for (var j = 0; j < array.Count; j++)
                    {
                        if (Scalar(array[j]) is { } name)
                        {
                            names.Add(name);
                        }
                        else
                        {
                            Violations.Add(new($"{path}.requires[{j}]", "must be a step name"));
                        }
                    }

                    return names;
                default:
                    Violations.Add(new(path + ".requires", "must be a list of step names ([] for none)"));
                    return null;
            }
        }

        private JsonElement? With(JsonObject json, string path)
        {
            switch (json["with"])
            {
                case null:
                    return null;
                case JsonObject with:
                    return JsonSerializer.SerializeToElement(with);
                default:
                    Violations.Add(new(path + ".with", "must be a map of inputs"));
                    return null;
            }
        }

        /// <summary>A string field; a number or boolean is taken as written (YAML <c>name: 2024</c>).</summary>
        private string? String(JsonObject json, string parentPath, string key)
        {
            var node = json[key];
            if (node is null)
            {
                return null;
            }

            if (Scalar(node) is { } value)
            {
                return value;
            }

            Violations.Add(new(Join(parentPath, key), "must be a string"));
            return null;
        }

        private static string? Scalar(JsonNode? node) => node?.GetValueKind() switch
        {
            JsonValueKind.String => node.GetValue<string>(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => node.ToJsonString(),
            _ => null,
        };

        private void CheckKeys(JsonObject json, string path, string[] known)
        {
            foreach (var (key, _) in json)
            {
                if (!known.Contains(key, StringComparer.Ordinal))
                {
                    var hint = known.Where(k => Distance(k, key) <= 2).OrderBy(k => Distance(k, key)).FirstOrDefault();
                    Violations.Add(new(Join(path, key), hint is null
                        ? $"unknown key '{key}'"
                        : $"unknown key '{key}'; did you mean '{hint}'?"));
                }
            }
        }

        private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

        private static int Distance(string a, string b)
        {
            var row = Enumerable.Range(0, b.Length + 1).ToArray();
            for (var i = 1; i <= a.Length; i++)
            {
                var diagonal = row[0];
                row[0] = i;
                for (var j = 1; j <= b.Length; j++)
                {
                    var above = row[j];
                    row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                    diagonal = above;
                }
            }

            return row[b.Length];
        }
    }
}
