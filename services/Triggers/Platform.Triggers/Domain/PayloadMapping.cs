using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.BuildingBlocks.Errors;
using Platform.Workflow.Expressions;

namespace Platform.Triggers.Domain;

/// <summary>
/// How a trigger turns a payload (a webhook's JSON body, a finished execution) into an execution's input: the whole
/// payload by default, or a mapping whose strings may be <c>${{ inputs.&lt;path&gt; }}</c> expressions over the
/// payload; and an optional filter condition over the same payload. The workflow language's expressions are used,
/// with the payload as <c>inputs</c>, so users write one expression language everywhere.
/// </summary>
public sealed class PayloadMapping
{
    private readonly JsonElement? mapping;
    private readonly Expression? filter;

    private PayloadMapping(JsonElement? mapping, Expression? filter)
    {
        this.mapping = mapping;
        this.filter = filter;
    }

    public static readonly PayloadMapping WholePayload = new(null, null);

    /// <summary>Checks every expression of the mapping and the filter (references must be <c>inputs</c>).</summary>
    public static PayloadMapping Create(JsonObject? mapping, string filter)
    {
        var violations = new List<FieldViolation>();
        if (mapping is not null)
        {
            Check(mapping, "input_mapping", violations);
        }

        Expression? condition = null;
        if (filter.Trim().Length > 0)
        {
            try
            {
                condition = Expression.ParseCondition(filter);
                CheckReferences(condition.References, "filter", violations);
            }
            catch (ExpressionException ex)
            {
                violations.Add(new("filter", $"{ex.Reason} (at {ex.Position})"));
            }
        }

        if (violations.Count > 0)
        {
            throw new ValidationFailedException(violations);
        }

        return new PayloadMapping(mapping is { Count: > 0 } ? JsonSerializer.SerializeToElement(mapping) : null, condition);
    }

    /// <summary>Whether the payload passes the filter (no filter: every payload does).</summary>
    public bool Accepts(JsonElement payload) => filter is null || filter.EvaluateCondition(new ExpressionContext(payload));

    /// <summary>The execution's input: the mapping rendered over the payload, or the payload itself (a payload that
    /// is not an object is wrapped as <c>{"payload": ...}</c>, because an input is an object).</summary>
    public JsonObject Map(JsonElement payload)
    {
        var result = mapping is { } m ? Template.RenderJson(m, new ExpressionContext(payload)) : payload;
        return result.ValueKind == JsonValueKind.Object
            ? JsonObject.Create(result)!
            : new JsonObject { ["payload"] = JsonSerializer.SerializeToNode(result) };
    }

    private static void Check(JsonNode? node, string path, List<FieldViolation> violations)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    Check(value, $"{path}.{key}", violations);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Check(array[i], $"{path}[{i}]", violations);
                }

                break;
            case JsonValue value when value.TryGetValue<string>(out var text) && Template.ContainsExpression(text):
                try
                {
                    CheckReferences(Template.Parse(text).References, path, violations);
                }
                catch (ExpressionException ex)
                {
                    violations.Add(new(path, $"{ex.Reason} (at {ex.Position})"));
                }

                break;
        }
    }

    private static void CheckReferences(IEnumerable<ExpressionReference> references, string path, List<FieldViolation> violations)
    {
        foreach (var reference in references.Where(r => r.Kind != ReferenceKind.Input))
        {
            violations.Add(new(path, $"reads {reference}; a trigger's expressions read the payload as inputs.<path>"));
        }
    }
}
