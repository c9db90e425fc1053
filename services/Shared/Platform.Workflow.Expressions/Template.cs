using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Platform.Workflow.Expressions;

/// <summary>A part of a template: literal text, or an expression written as <c>${{ ... }}</c>.</summary>
/// <param name="Position">0-based index in the template string where the part starts (an expression part: its
/// <c>${{</c>).</param>
public abstract record TemplatePart(int Position);

public sealed record TextPart(string Text, int Position) : TemplatePart(Position);

public sealed record ExpressionPart(Expression Expression, int Position) : TemplatePart(Position);

/// <summary>
/// A string with <c>${{ ... }}</c> expressions in it: <c>"deploy ${{ steps.build.outputs.tag }} to ${{ inputs.env }}"</c>.
/// There is no escape for a literal <c>${{</c>; write it as an expression: <c>${{ '${{' }}</c>. A <c>}}</c> inside
/// a string literal does not end the expression.
/// </summary>
public sealed class Template
{
    private const string Open = "${{";

    private Template(string text, IReadOnlyList<TemplatePart> parts)
    {
        Text = text;
        Parts = parts;
        References = [.. parts.OfType<ExpressionPart>().SelectMany(p => p.Expression.References)];
    }

    public string Text { get; }

    /// <summary>Text and expression parts in order; no empty text parts (an empty string has no parts).</summary>
    public IReadOnlyList<TemplatePart> Parts { get; }

    /// <summary>The references of every expression, in order.</summary>
    public IReadOnlyList<ExpressionReference> References { get; }

    public bool HasExpressions => Parts.Any(p => p is ExpressionPart);

    /// <summary>The whole string is one <c>${{ }}</c> (no text around it, not even spaces): it evaluates to the
    /// expression's value with its type (<see cref="Evaluate"/>).</summary>
    public bool IsSingleExpression => Parts is [ExpressionPart];

    /// <summary>Whether <paramref name="text"/> holds a <c>${{</c> at all (a cheap test before <see cref="Parse"/>).</summary>
    public static bool ContainsExpression(string text) =>
        text is not null && text.Contains(Open, StringComparison.Ordinal);

    /// <exception cref="ExpressionException">with the position (0-based, in <paramref name="text"/>) of the first
    /// error.</exception>
    public static Template Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = new List<TemplatePart>();
        var textStart = 0;
        int open;
        while ((open = text.IndexOf(Open, textStart, StringComparison.Ordinal)) >= 0)
        {
            if (open > textStart)
            {
                parts.Add(new TextPart(text[textStart..open], textStart));
            }

            var (root, closeStart, end) = Parser.ParseEmbedded(text, open);
            parts.Add(new ExpressionPart(new Expression(text[(open + Open.Length)..closeStart].Trim(), root), open));
            textStart = end;
        }

        if (textStart < text.Length)
        {
            parts.Add(new TextPart(text[textStart..], textStart));
        }

        return new Template(text, parts);
    }

    /// <summary>The string with each expression replaced by its value as text (<see cref="ExpressionValue.ToText"/>:
    /// null is empty, objects and arrays are JSON).</summary>
    public string Render(IExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Parts is [TextPart only])
        {
            return only.Text;
        }

        var result = new StringBuilder();
        foreach (var part in Parts)
        {
            result.Append(part switch
            {
                TextPart text => text.Text,
                ExpressionPart expression => expression.Expression.Evaluate(context).ToText(),
                _ => "",
            });
        }

        return result.ToString();
    }

    /// <summary>A single expression's value with its type (<see cref="IsSingleExpression"/>); otherwise the rendered
    /// string.</summary>
    public ExpressionValue Evaluate(IExpressionContext context) =>
        Parts is [ExpressionPart single]
            ? single.Expression.Evaluate(context)
            : ExpressionValue.FromString(Render(context));

    /// <summary>
    /// A JSON tree (a step's <c>with</c>) with every string that holds <c>${{ }}</c> rendered: a string that is one
    /// whole expression takes the expression's value and JSON type (<c>"${{ inputs.replicas }}"</c> → <c>3</c>),
    /// other strings stay strings. Keys are not rendered. The result owns its memory.
    /// </summary>
    /// <exception cref="ExpressionException">when a string does not parse (checked at save time, so not expected).</exception>
    public static JsonElement RenderJson(JsonElement value, IExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(value, context, writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    private static void Write(JsonElement value, IExpressionContext context, Utf8JsonWriter writer)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    Write(property.Value, context, writer);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    Write(item, context, writer);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String when ContainsExpression(value.GetString()!):
                Parse(value.GetString()!).Evaluate(context).WriteTo(writer);
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

    public override string ToString() => Text;
}
