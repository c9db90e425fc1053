using System.Text;

namespace Platform.Runner.Executors;

/// <summary>Which of the job's outputs a line came from.</summary>
public enum JobOutputStream
{
    Stdout,
    Stderr,
}

/// <summary>Receives the job's output line by line, in arrival order, while it runs (the job's log).</summary>
public interface IJobLogSink
{
    void WriteLine(JobOutputStream stream, string text);
}

/// <summary>A sink that drops every line.</summary>
public sealed class NullJobLogSink : IJobLogSink
{
    public static readonly NullJobLogSink Instance = new();

    public void WriteLine(JobOutputStream stream, string text)
    {
    }
}

/// <summary>
/// Splits one output stream into lines: UTF-8 decoded across reads, split on '\n' (a trailing '\r' dropped), the
/// partial last line kept until more arrives or <see cref="Complete"/>. A line longer than <see cref="MaxLineChars"/>
/// keeps only its start (the registry cuts it further and marks the cut), so memory stays bounded.
/// </summary>
internal sealed class OutputLineSplitter(JobOutputStream stream, IJobLogSink sink)
{
    public const int MaxLineChars = (16 * 1024) + 1;

    private readonly Decoder decoder = new UTF8Encoding(false).GetDecoder();
    private readonly StringBuilder line = new();
    private char[] chars = new char[1024];

    public void Append(ReadOnlySpan<byte> bytes)
    {
        var needed = decoder.GetCharCount(bytes, flush: false);
        if (chars.Length < needed)
        {
            chars = new char[Math.Max(needed, chars.Length * 2)];
        }

        var count = decoder.GetChars(bytes, chars, flush: false);
        Split(chars.AsSpan(0, count));
    }

    /// <summary>The stream ended: the partial last line (if any) is a line too.</summary>
    public void Complete()
    {
        var count = decoder.GetChars([], chars, flush: true);
        Split(chars.AsSpan(0, count));
        if (line.Length > 0)
        {
            Emit();
        }
    }

    private void Split(ReadOnlySpan<char> text)
    {
        while (!text.IsEmpty)
        {
            var newline = text.IndexOf('\n');
            var part = newline < 0 ? text : text[..newline];
            var room = MaxLineChars - line.Length;
            line.Append(part.Length <= room ? part : part[..Math.Max(0, room)]);
            if (newline < 0)
            {
                return;
            }

            Emit();
            text = text[(newline + 1)..];
        }
    }

    private void Emit()
    {
        var length = line.Length > 0 && line[^1] == '\r' ? line.Length - 1 : line.Length;
        sink.WriteLine(stream, line.ToString(0, length));
        line.Clear();
    }
}
