using System.Globalization;
using System.Text.Json;

namespace Platform.Workflow.Expressions;

public enum ExpressionValueKind
{
    Null,
    Boolean,
    Number,
    String,
    Object,
    Array,
}

/// <summary>
/// A value of the expression language: null, a boolean, a number, a string, or a JSON object or array (from
/// <c>inputs</c>). Equality (<see cref="Equals(ExpressionValue)"/>) is strict: same kind, same value; the language's
/// <c>==</c> is <see cref="LooseEquals"/>.
/// </summary>
public sealed class ExpressionValue : IEquatable<ExpressionValue>
{
    public static readonly ExpressionValue Null = new(ExpressionValueKind.Null);
    public static readonly ExpressionValue True = new(ExpressionValueKind.Boolean, boolean: true);
    public static readonly ExpressionValue False = new(ExpressionValueKind.Boolean);

    private readonly bool boolean;
    private readonly double number;
    private readonly string? text;

    /// <summary>The element of an object or array, and of a number that came from JSON (to render it as written).</summary>
    private readonly JsonElement json;

    private ExpressionValue(ExpressionValueKind kind, bool boolean = false, double number = 0, string? text = null,
        JsonElement json = default)
    {
        Kind = kind;
        this.boolean = boolean;
        this.number = number;
        this.text = text;
        this.json = json;
    }

    public ExpressionValueKind Kind { get; }

    public static ExpressionValue FromBoolean(bool value) => value ? True : False;

    /// <exception cref="ArgumentOutOfRangeException">for NaN and infinities, which JSON cannot hold.</exception>
    public static ExpressionValue FromNumber(double value) =>
        double.IsFinite(value)
            ? new ExpressionValue(ExpressionValueKind.Number, number: value)
            : throw new ArgumentOutOfRangeException(nameof(value), value, "must be a finite number");

    /// <summary>A string; <c>null</c> gives <see cref="Null"/>.</summary>
    public static ExpressionValue FromString(string? value) =>
        value is null ? Null : new ExpressionValue(ExpressionValueKind.String, text: value);

    /// <summary>The value of a JSON element (an undefined element is <see cref="Null"/>). Objects and arrays keep the
    /// element, which must outlive the value (clone it when its document is disposed).</summary>
    public static ExpressionValue FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => Null,
        JsonValueKind.True => True,
        JsonValueKind.False => False,
        JsonValueKind.String => FromString(element.GetString()),
        JsonValueKind.Number => new ExpressionValue(ExpressionValueKind.Number, number: element.GetDouble(), json: element),
        JsonValueKind.Object => new ExpressionValue(ExpressionValueKind.Object, json: element),
        JsonValueKind.Array => new ExpressionValue(ExpressionValueKind.Array, json: element),
        _ => throw new ArgumentOutOfRangeException(nameof(element), element.ValueKind, "unknown JSON value kind"),
    };

    /// <summary>As GitHub Actions: <c>false</c>, <c>0</c>, <c>''</c> and <c>null</c> are false; everything else
    /// (objects and arrays too, even empty ones) is true.</summary>
    public bool IsTruthy => Kind switch
    {
        ExpressionValueKind.Null => false,
        ExpressionValueKind.Boolean => boolean,
        ExpressionValueKind.Number => number != 0,
        ExpressionValueKind.String => text!.Length > 0,
        _ => true,
    };

    /// <summary>The boolean of a <see cref="ExpressionValueKind.Boolean"/> value.</summary>
    public bool AsBoolean() => Kind == ExpressionValueKind.Boolean ? boolean : throw WrongKind(ExpressionValueKind.Boolean);

    /// <summary>The number of a <see cref="ExpressionValueKind.Number"/> value.</summary>
    public double AsNumber() => Kind == ExpressionValueKind.Number ? number : throw WrongKind(ExpressionValueKind.Number);

    /// <summary>The string of a <see cref="ExpressionValueKind.String"/> value.</summary>
    public string AsString() => Kind == ExpressionValueKind.String ? text! : throw WrongKind(ExpressionValueKind.String);

    /// <summary>The element of an <see cref="ExpressionValueKind.Object"/> or <see cref="ExpressionValueKind.Array"/>.</summary>
    public JsonElement AsJson() =>
        Kind is ExpressionValueKind.Object or ExpressionValueKind.Array ? json : throw WrongKind(ExpressionValueKind.Object);

    /// <summary>
    /// The number this value stands for when compared with a value of another kind (as GitHub Actions): null is 0,
    /// true 1, false 0; a string is parsed (blank is 0; <c>0x1F</c> is hex; anything else that is not a number is
    /// NaN); objects and arrays are NaN.
    /// </summary>
    public double ToNumber() => Kind switch
    {
        ExpressionValueKind.Null => 0,
        ExpressionValueKind.Boolean => boolean ? 1 : 0,
        ExpressionValueKind.Number => number,
        ExpressionValueKind.String => ParseNumber(text!),
        _ => double.NaN,
    };

    /// <summary>
    /// The value as text inside a string: null is <c>""</c>; booleans <c>true</c>/<c>false</c>; numbers in their
    /// shortest round-trip form (or as written in the JSON they came from); strings as they are; objects and arrays
    /// as compact JSON.
    /// </summary>
    public string ToText() => Kind switch
    {
        ExpressionValueKind.Null => "",
        ExpressionValueKind.Boolean => boolean ? "true" : "false",
        ExpressionValueKind.Number => json.ValueKind == JsonValueKind.Number
            ? json.GetRawText()
            : number.ToString("R", CultureInfo.InvariantCulture),
        ExpressionValueKind.String => text!,
        _ => JsonSerializer.Serialize(json),
    };

    /// <summary>The value as JSON (a new element that owns its memory).</summary>
    public JsonElement ToJsonElement()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        switch (Kind)
        {
            case ExpressionValueKind.Null:
                writer.WriteNullValue();
                break;
            case ExpressionValueKind.Boolean:
                writer.WriteBooleanValue(boolean);
                break;
            case ExpressionValueKind.Number when json.ValueKind == JsonValueKind.Number:
                json.WriteTo(writer);
                break;
            case ExpressionValueKind.Number:
                writer.WriteNumberValue(number);
                break;
            case ExpressionValueKind.String:
                writer.WriteStringValue(text);
                break;
            default:
                json.WriteTo(writer);
                break;
        }
    }

    /// <summary>
    /// The language's <c>==</c> (as GitHub Actions, but strings compare case-sensitively): values of the same kind are
    /// equal when their values are (objects and arrays by content); of different kinds, an object or array equals
    /// nothing else, and the others are compared as numbers (<see cref="ToNumber"/>; NaN equals nothing), so
    /// <c>'3' == 3</c>, <c>'' == 0</c> and <c>null == false</c> hold.
    /// </summary>
    public static bool LooseEquals(ExpressionValue left, ExpressionValue right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        if (left.Kind == right.Kind)
        {
            return left.Equals(right);
        }

        if (left.Kind is ExpressionValueKind.Object or ExpressionValueKind.Array ||
            right.Kind is ExpressionValueKind.Object or ExpressionValueKind.Array)
        {
            return false;
        }

        return left.ToNumber() == right.ToNumber();
    }

    /// <summary>
    /// The language's <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c>: two strings compare ordinally, anything
    /// else as numbers. null when the values are not ordered (a NaN side), so every comparison is false.
    /// </summary>
    public static int? Compare(ExpressionValue left, ExpressionValue right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        if (left.Kind == ExpressionValueKind.String && right.Kind == ExpressionValueKind.String)
        {
            return Math.Sign(string.CompareOrdinal(left.text, right.text));
        }

        var (a, b) = (left.ToNumber(), right.ToNumber());
        return double.IsNaN(a) || double.IsNaN(b) ? null : a.CompareTo(b);
    }

    /// <summary>A property of an object (by exact name), an element of an array (by an integral number), or null.</summary>
    public ExpressionValue Get(ExpressionValue key)
    {
        ArgumentNullException.ThrowIfNull(key);
        switch (Kind)
        {
            case ExpressionValueKind.Object:
                return json.TryGetProperty(key.ToText(), out var property) ? FromJson(property) : Null;
            case ExpressionValueKind.Array:
                var index = key.Kind == ExpressionValueKind.String ? ParseNumber(key.text!) : key.ToNumber();
                return index >= 0 && index < json.GetArrayLength() && index == Math.Floor(index)
                    ? FromJson(json[(int)index])
                    : Null;
            default:
                return Null;
        }
    }

    public bool Equals(ExpressionValue? other)
    {
        if (other is null || other.Kind != Kind)
        {
            return false;
        }

        return Kind switch
        {
            ExpressionValueKind.Null => true,
            ExpressionValueKind.Boolean => boolean == other.boolean,
            ExpressionValueKind.Number => number == other.number,
            ExpressionValueKind.String => string.Equals(text, other.text, StringComparison.Ordinal),
            _ => JsonElement.DeepEquals(json, other.json),
        };
    }

    public override bool Equals(object? obj) => Equals(obj as ExpressionValue);

    public override int GetHashCode() => Kind switch
    {
        ExpressionValueKind.Boolean => HashCode.Combine(Kind, boolean),
        ExpressionValueKind.Number => HashCode.Combine(Kind, number),
        ExpressionValueKind.String => HashCode.Combine(Kind, StringComparer.Ordinal.GetHashCode(text!)),
        _ => Kind.GetHashCode(),
    };

    public override string ToString() => Kind switch
    {
        ExpressionValueKind.Null => "null",
        ExpressionValueKind.String => $"'{text!.Replace("'", "''", StringComparison.Ordinal)}'",
        _ => ToText(),
    };

    private static double ParseNumber(string value)
    {
        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            return 0;
        }

        if (trimmed.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
            long.TryParse(trimmed.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
        {
            return hex;
        }

        return double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number : double.NaN;
    }

    private InvalidOperationException WrongKind(ExpressionValueKind expected) =>
        new($"the value is {Kind}, not {expected}");
}
