using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Platform.BuildingBlocks.Errors;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Platform.Definitions.Domain;

/// <summary>A line and column (1-based) in a YAML document.</summary>
public sealed record SourcePosition(long Line, long Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}

/// <summary>Where each field of an imported document was written, by field path (<c>steps[1].agent</c>).</summary>
public sealed class SourceMap(IReadOnlyDictionary<string, SourcePosition> positions)
{
    public static readonly SourceMap Empty = new(new Dictionary<string, SourcePosition>());

    /// <summary>The position of the field, or of the nearest enclosing field that was written.</summary>
    public SourcePosition? Find(string field)
    {
        var path = field;
        while (path.Length > 0)
        {
            if (positions.TryGetValue(path, out var position))
            {
                return position;
            }

            var cut = path.EndsWith(']') ? path.LastIndexOf('[') : path.LastIndexOf('.');
            path = cut < 0 ? "" : path[..cut];
        }

        return null;
    }

    /// <summary>The same violations, each description ending with where its field was written.</summary>
    public ValidationFailedException Annotate(ValidationFailedException failure) =>
        new([.. failure.Violations.Select(v => Find(v.Field) is { } at ? v with { Description = $"{v.Description} ({at})" } : v)]);
}

/// <summary>A YAML document read into the workflow model, with the positions of its fields.</summary>
public sealed record ParsedWorkflow(WorkflowDocument Document, SourceMap Source);

/// <summary>
/// Reads workflow documents written in YAML (and so JSON, which YAML includes). Scalars follow the YAML 1.2 core
/// schema (<c>yes</c>/<c>no</c> stay strings); a malformed document is reported on field <c>yaml</c> with its line
/// and column; a document is one mapping, at most <see cref="WorkflowLimits.MaxYamlBytes"/> bytes.
/// </summary>
public static partial class WorkflowYaml
{
    /// <exception cref="ValidationFailedException">with field <c>yaml</c> for malformed YAML, and the document's
    /// field paths (with line and column) for unknown keys and wrongly typed values.</exception>
    public static ParsedWorkflow Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ValidationFailedException("yaml", "is required: a YAML (or JSON) workflow document");
        }

        var size = Encoding.UTF8.GetByteCount(text);
        if (size > WorkflowLimits.MaxYamlBytes)
        {
            throw new ValidationFailedException("yaml", $"is {size} bytes; at most {WorkflowLimits.MaxYamlBytes} are allowed");
        }

        var (root, source) = YamlTree.Load(text);
        try
        {
            return new ParsedWorkflow(WorkflowDocumentJson.Read(root, "yaml"), source);
        }
        catch (ValidationFailedException failure)
        {
            throw source.Annotate(failure);
        }
    }

    /// <summary>Builds a JSON tree from the parser's events, recording where each field was written.</summary>
    private sealed class YamlTree(IParser parser)
    {
        private readonly Dictionary<string, JsonNode?> anchors = new(StringComparer.Ordinal);
        private readonly Dictionary<string, SourcePosition> positions = new(StringComparer.Ordinal);
        private int nodes;

        public static (JsonNode? Root, SourceMap Source) Load(string text)
        {
            try
            {
                var parser = new Parser(new StringReader(text));
                parser.Consume<StreamStart>();
                if (parser.Accept<StreamEnd>(out _))
                {
                    throw new ValidationFailedException("yaml", "holds no document, only comments");
                }

                parser.Consume<DocumentStart>();
                var tree = new YamlTree(parser);
                var root = tree.Node("", 0);
                parser.Consume<DocumentEnd>();
                if (!parser.Accept<StreamEnd>(out _))
                {
                    throw Invalid(parser.Current!.Start, "holds more than one document; a workflow is a single document");
                }

                return (root, new SourceMap(tree.positions));
            }
            catch (YamlException e)
            {
                throw Invalid(e.Start, e.Message);
            }
            catch (InvalidOperationException e)
            {
                // YamlDotNet's scanner throws this (not a YamlException) for some truncated documents, e.g. an
                // unclosed flow sequence at the end of the text.
                throw new ValidationFailedException("yaml", $"is not valid YAML: the document ends inside a construct ({e.Message})");
            }
        }

        private JsonNode? Node(string path, int depth)
        {
            var current = parser.Current!;
            if (depth > WorkflowLimits.MaxYamlDepth)
            {
                throw Invalid(current.Start, $"nests deeper than {WorkflowLimits.MaxYamlDepth} levels");
            }

            Count();
            switch (current)
            {
                case AnchorAlias alias:
                    parser.MoveNext();
                    return anchors.TryGetValue(alias.Value.Value, out var anchored)
                        ? Clone(anchored)
                        : throw Invalid(alias.Start, $"the alias '*{alias.Value.Value}' refers to no anchor defined before it");
                case Scalar scalar:
                    parser.MoveNext();
                    return Anchor(scalar, Convert(scalar));
                case SequenceStart start:
                    parser.MoveNext();
                    var array = new JsonArray();
                    while (!parser.TryConsume<SequenceEnd>(out _))
                    {
                        var itemPath = $"{path}[{array.Count}]";
                        positions[itemPath] = At(parser.Current!.Start);
                        array.Add(Node(itemPath, depth + 1));
                    }

                    return Anchor(start, array);
                case MappingStart start:
                    parser.MoveNext();
                    var mapping = new JsonObject();
                    while (!parser.TryConsume<MappingEnd>(out _))
                    {
                        if (parser.Current is not Scalar key)
                        {
                            throw Invalid(parser.Current!.Start, "mapping keys must be plain text");
                        }

                        parser.MoveNext();
                        var childPath = path.Length == 0 ? key.Value : $"{path}.{key.Value}";
                        if (mapping.ContainsKey(key.Value))
                        {
                            throw Invalid(key.Start, $"duplicate key '{key.Value}'");
                        }

                        positions[childPath] = At(key.Start);
                        mapping[key.Value] = Node(childPath, depth + 1);
                    }

                    return Anchor(start, mapping);
                default:
                    throw Invalid(current.Start, $"unexpected {current.GetType().Name}");
            }
        }

        private JsonNode? Anchor(NodeEvent node, JsonNode? value)
        {
            if (!node.Anchor.IsEmpty)
            {
                anchors[node.Anchor.Value] = value;
            }

            return value;
        }

        /// <summary>Aliases are expanded by copying, so every node counts towards the limit (no alias bombs).</summary>
        private JsonNode? Clone(JsonNode? node)
        {
            Count();
            return node switch
            {
                JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Clone(p.Value)))),
                JsonArray a => new JsonArray([.. a.Select(Clone)]),
                _ => node?.DeepClone(),
            };
        }

        private void Count()
        {
            if (++nodes > WorkflowLimits.MaxYamlNodes)
            {
                throw new ValidationFailedException("yaml",
                    $"expands to more than {WorkflowLimits.MaxYamlNodes} values (are aliases repeating themselves?)");
            }
        }

        private static SourcePosition At(Mark mark) => new(mark.Line, mark.Column);

        private static ValidationFailedException Invalid(Mark mark, string message) =>
            new("yaml", $"{At(mark)}: {message}");
    }

    private static JsonNode? Convert(Scalar scalar)
    {
        var tag = scalar.Tag.IsEmpty || scalar.Tag.IsNonSpecific ? null : scalar.Tag.Value;
        var value = scalar.Value;
        if (tag == "tag:yaml.org,2002:str" || (tag is null && scalar.Style != ScalarStyle.Plain))
        {
            return JsonValue.Create(value);
        }

        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (JsonNumber().IsMatch(value) &&
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            // As written, so 1.50 stays 1.50.
            return JsonNode.Parse(value);
        }

        if (Integer().IsMatch(value) && decimal.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (value.StartsWith("0x", StringComparison.Ordinal) &&
            long.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
        {
            return JsonValue.Create(hex);
        }

        if (value.StartsWith("0o", StringComparison.Ordinal) && value.Length > 2 && value[2..].All(c => c is >= '0' and <= '7'))
        {
            try
            {
                return JsonValue.Create(System.Convert.ToInt64(value[2..], 8));
            }
            catch (OverflowException)
            {
                return JsonValue.Create(value);
            }
        }

        if (Float().IsMatch(value) &&
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real))
        {
            return JsonValue.Create(real);
        }

        return JsonValue.Create(value);
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")]
    private static partial Regex JsonNumber();

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();
}
