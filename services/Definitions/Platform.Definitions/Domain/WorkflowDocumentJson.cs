using System.Globalization;
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
    private static readonly string[] DocumentKeys = ["name", "description", "team_id", "steps", "parallel", "trigger", "timeout"];
    private static readonly string[] StepKeys =
    [
        "name", "type", "agent", "agent_id", "requires", "parallel", "with",
        "if", "retry", "timeout", "compensate", "continue_on_failure",
    ];
    private static readonly string[] TriggerKeys = ["type", "source", "cron", "timezone"];
    private static readonly string[] RetryKeys = ["max_attempts", "backoff", "non_retryable_exit_codes"];
    private static readonly string[] BackoffKeys = ["initial", "max", "multiplier", "jitter"];
    private static readonly string[] CompensationKeys = ["agent", "agent_id", "with"];

    /// <exception cref="ValidationFailedException">when the tree is not a workflow document; field paths like
    /// <c>steps[2].requires[0]</c>, and <paramref name="rootField"/> for the document as a whole.</exception>
    public static WorkflowDocument Read(JsonNode? root, string rootField)
    {
        if (root is not JsonObject document)
        {
            throw new ValidationFailedException(rootField, "must be a workflow document: a mapping with name, steps, ...");
        }

        return Read(document, tolerant: false);
    }

    /// <summary>
    /// Reads a document stored by <see cref="Write"/>. Revisions stored before <c>if</c>, <c>retry</c>,
    /// <c>timeout</c>, <c>compensate</c> and <c>continue_on_failure</c> were modelled kept those keys as written,
    /// unchecked: here a value that does not fit the model is left out rather than refused, so old revisions still
    /// read back.
    /// </summary>
    public static WorkflowDocument Parse(string json) =>
        JsonNode.Parse(json) is JsonObject document
            ? Read(document, tolerant: true)
            : throw new ValidationFailedException("document", "must be a workflow document: a mapping with name, steps, ...");

    private static WorkflowDocument Read(JsonObject document, bool tolerant)
    {
        var reader = new Reader(tolerant);
        var result = reader.Document(document);
        return reader.Violations.Count > 0 ? throw new ValidationFailedException(reader.Violations) : result;
    }

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

        AddIfSet(json, "timeout", document.Timeout);
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

        AddIfSet(json, "if", step.If);
        if (step.Retry is { } retry)
        {
            json["retry"] = ToJson(retry);
        }

        AddIfSet(json, "timeout", step.Timeout);
        if (step.Compensate is { } compensate)
        {
            var c = new JsonObject();
            AddIfSet(c, "agent_id", compensate.AgentId);
            AddIfSet(c, "agent", compensate.Agent);
            if (compensate.With is { } compensationWith)
            {
                c["with"] = JsonNode.Parse(compensationWith.GetRawText());
            }

            json["compensate"] = c;
        }

        if (step.ContinueOnFailure is { } continueOnFailure)
        {
            json["continue_on_failure"] = continueOnFailure;
        }

        return json;
    }

    private static JsonObject ToJson(RetrySpec retry)
    {
        var json = new JsonObject();
        if (retry.MaxAttempts is { } maxAttempts)
        {
            json["max_attempts"] = maxAttempts;
        }

        if (retry.Backoff is { } backoff)
        {
            var b = new JsonObject();
            AddIfSet(b, "initial", backoff.Initial);
            AddIfSet(b, "max", backoff.Max);
            if (backoff.Multiplier is { } multiplier)
            {
                b["multiplier"] = multiplier;
            }

            if (backoff.Jitter is { } jitter)
            {
                b["jitter"] = jitter;
            }

            json["backoff"] = b;
        }

        if (retry.NonRetryableExitCodes is { } codes)
        {
            json["non_retryable_exit_codes"] = new JsonArray([.. codes.Select(c => (JsonNode)c)]);
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

    private sealed class Reader(bool tolerant)
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
                Timeout = String(json, "", "timeout") ?? "",
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

            // Keys that stored revisions may hold unchecked (see Parse): what does not fit is left out.
            var modelled = tolerant ? new Reader(tolerant) : this;
            return new StepItem
            {
                Name = String(json, path, "name") ?? "",
                Type = String(json, path, "type") ?? "",
                Agent = String(json, path, "agent") ?? "",
                AgentId = String(json, path, "agent_id") ?? "",
                Requires = Requires(json, path),
                Parallel = Items(json, path, "parallel"),
                With = With(json, path),
                If = modelled.String(json, path, "if") ?? "",
                Retry = modelled.Retry(json, path),
                Timeout = modelled.String(json, path, "timeout") ?? "",
                Compensate = modelled.Compensation(json, path),
                ContinueOnFailure = modelled.Boolean(json, path, "continue_on_failure"),
            };
        }

        private RetrySpec? Retry(JsonObject step, string stepPath)
        {
            var path = stepPath + ".retry";
            switch (step["retry"])
            {
                case null:
                    return null;
                case JsonObject json:
                    CheckKeys(json, path, RetryKeys);
                    return new RetrySpec(Integer(json, path, "max_attempts"), Backoff(json, path), ExitCodes(json, path));
                default:
                    Violations.Add(new(path, "must be a mapping (max_attempts, backoff, non_retryable_exit_codes)"));
                    return null;
            }
        }

        private BackoffSpec? Backoff(JsonObject retry, string retryPath)
        {
            var path = retryPath + ".backoff";
            switch (retry["backoff"])
            {
                case null:
                    return null;
                case JsonObject json:
                    CheckKeys(json, path, BackoffKeys);
                    return new BackoffSpec(
                        String(json, path, "initial") ?? "",
                        String(json, path, "max") ?? "",
                        Number(json, path, "multiplier"),
                        Boolean(json, path, "jitter"));
                default:
                    Violations.Add(new(path, "must be a mapping (initial, max, multiplier, jitter)"));
                    return null;
            }
        }

        private List<int>? ExitCodes(JsonObject retry, string retryPath)
        {
            var path = retryPath + ".non_retryable_exit_codes";
            switch (retry["non_retryable_exit_codes"])
            {
                case null:
                    return null;
                case JsonArray array:
                    var codes = new List<int>();
                    for (var j = 0; j < array.Count; j++)
                    {
                        if (Integer(array[j], $"{path}[{j}]") is { } code)
                        {
                            codes.Add(code);
                        }
                    }

                    return codes;
                default:
                    Violations.Add(new(path, "must be a list of exit codes"));
                    return null;
            }
        }

        private CompensationSpec? Compensation(JsonObject step, string stepPath)
        {
            var path = stepPath + ".compensate";
            switch (step["compensate"])
            {
                case null:
                    return null;
                case JsonObject json:
                    CheckKeys(json, path, CompensationKeys);
                    return new CompensationSpec(
                        String(json, path, "agent") ?? "",
                        String(json, path, "agent_id") ?? "",
                        With(json, path));
                default:
                    Violations.Add(new(path, "must be a mapping (agent or agent_id, with)"));
                    return null;
            }
        }

        private int? Integer(JsonObject json, string parentPath, string key) =>
            json[key] is { } node ? Integer(node, Join(parentPath, key)) : null;

        private int? Integer(JsonNode? node, string path)
        {
            if (node?.GetValueKind() == JsonValueKind.Number &&
                decimal.TryParse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) &&
                value == decimal.Truncate(value))
            {
                if (value is >= int.MinValue and <= int.MaxValue)
                {
                    return (int)value;
                }

                Violations.Add(new(path, $"{value} is out of range"));
                return null;
            }

            Violations.Add(new(path, "must be a whole number"));
            return null;
        }

        private double? Number(JsonObject json, string parentPath, string key)
        {
            var node = json[key];
            if (node is null)
            {
                return null;
            }

            if (node.GetValueKind() == JsonValueKind.Number &&
                double.TryParse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) &&
                double.IsFinite(value))
            {
                return value;
            }

            Violations.Add(new(Join(parentPath, key), "must be a number"));
            return null;
        }

        private bool? Boolean(JsonObject json, string parentPath, string key)
        {
            switch (json[key]?.GetValueKind())
            {
                case null:
                    return null;
                case JsonValueKind.True:
                    return true;
                case JsonValueKind.False:
                    return false;
                default:
                    Violations.Add(new(Join(parentPath, key), "must be true or false"));
                    return null;
            }
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
