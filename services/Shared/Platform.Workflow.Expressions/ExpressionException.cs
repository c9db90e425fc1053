namespace Platform.Workflow.Expressions;

/// <summary>An expression or template that does not parse. Evaluation never throws it: a parsed expression always
/// has a value (a missing input or output is <c>null</c>).</summary>
public sealed class ExpressionException : Exception
{
    public ExpressionException(string reason, int position)
        : base($"{reason} (at column {position + 1})")
    {
        Reason = reason;
        Position = position;
    }

    /// <summary>What is wrong, without the position.</summary>
    public string Reason { get; }

    /// <summary>0-based index of the offending character in the text given to <c>Parse</c> (for a template, in the
    /// whole template string). The message says it 1-based, as a column.</summary>
    public int Position { get; }
}
