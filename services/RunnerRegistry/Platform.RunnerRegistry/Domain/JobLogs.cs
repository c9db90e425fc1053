using System.Text;

namespace Platform.RunnerRegistry.Domain;

/// <summary>Where a log line came from.</summary>
public static class LogStreams
{
    public const string Stdout = "stdout";
    public const string Stderr = "stderr";

    /// <summary>The platform's own lines (the truncation marker); runners cannot send them.</summary>
    public const string System = "system";

    public static bool IsFromRunner(string stream) => stream is Stdout or Stderr;
}

/// <summary>A line as the runner sent it: its place in the attempt's output (1, 2, 3...), stream, text and time.</summary>
public sealed record NewLogLine(long RunnerSequence, string Stream, string Text, DateTimeOffset Time);

/// <summary>A stored line: <see cref="Sequence"/> is its place in the job's whole log.</summary>
public sealed record JobLogLine(long Sequence, int Attempt, string Stream, string Text, DateTimeOffset Time);

/// <summary>Lines of a job's log after a point; <see cref="Complete"/>: the job ended and nothing follows them.</summary>
public sealed record JobLogPage(IReadOnlyList<JobLogLine> Lines, bool Complete);

public static class JobLogLimits
{
    /// <summary>A longer line is cut to this many UTF-8 bytes, followed by <see cref="LineCutMarker"/>.</summary>
    public const int MaxLineBytes = 16 * 1024;

    public const string LineCutMarker = " [line cut: longer than 16 KiB]";

    /// <summary>The most lines one AppendJobLogs may carry.</summary>
    public const int MaxLinesPerAppend = 5000;

    public const int DefaultReadLimit = 1000;
    public const int MaxReadLimit = 5000;

    /// <summary>The line, cut to <see cref="MaxLineBytes"/> (never in the middle of a character) with a marker.</summary>
    public static string CutLine(string text)
    {
        if (text.Length * 3 <= MaxLineBytes || Encoding.UTF8.GetByteCount(text) <= MaxLineBytes)
        {
            return text;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var end = MaxLineBytes;
        while (end > 0 && (bytes[end] & 0xC0) == 0x80)
        {
            end--; // a continuation byte: cut before the character it belongs to
        }

        return Encoding.UTF8.GetString(bytes, 0, end) + LineCutMarker;
    }

    public static string TruncatedMarker(int maxLines, long maxBytes) =>
        $"[log truncated: the job wrote more than {maxLines} lines or {maxBytes} bytes of output; the rest was dropped]";
}
