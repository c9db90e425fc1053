using System.Globalization;
using System.Text.RegularExpressions;

namespace Platform.Definitions.Domain;

/// <summary>
/// Durations of the workflow language: a whole number with a unit, <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, or
/// several of them from the largest unit down, <c>1h30m</c>, <c>2m30s</c>. More than zero, at most
/// <see cref="Max"/>.
/// </summary>
public static partial class Durations
{
    public static readonly TimeSpan Max = TimeSpan.FromDays(7);

    public const string Forms = "a duration like 500ms, 30s, 5m, 1h or 1h30m";

    /// <returns>the duration, or null with <paramref name="error"/> saying what is wrong.</returns>
    public static TimeSpan? Parse(string text, out string error)
    {
        error = "";
        var match = Pattern().Match(text);
        if (text.Length == 0 || !match.Success)
        {
            error = text.Length > 0 && text.All(char.IsAsciiDigit)
                ? $"'{text}' has no unit; write {Forms}"
                : $"'{text}' is not {Forms}";
            return null;
        }

        long milliseconds = 0;
        foreach (var (group, unit) in new[] { ("h", 3_600_000L), ("m", 60_000L), ("s", 1_000L), ("ms", 1L) })
        {
            if (match.Groups[group].Success)
            {
                // At most 9 digits (the pattern), so this cannot overflow.
                milliseconds += unit * long.Parse(match.Groups[group].ValueSpan, CultureInfo.InvariantCulture);
            }
        }

        if (milliseconds <= 0)
        {
            error = "must be more than 0";
            return null;
        }

        if (milliseconds > (long)Max.TotalMilliseconds)
        {
            error = $"'{text}' is longer than the limit of 7 days (168h)";
            return null;
        }

        return TimeSpan.FromMilliseconds(milliseconds);
    }

    /// <summary>Milliseconds of a duration already validated; 0 for "".</summary>
    public static long Milliseconds(string text) =>
        text.Length == 0 ? 0 : (long)(Parse(text, out _) ?? TimeSpan.Zero).TotalMilliseconds;

    [GeneratedRegex(@"^(?=\d)(?:(?<h>\d{1,9})h)?(?:(?<m>\d{1,9})m(?!s))?(?:(?<s>\d{1,9})s)?(?:(?<ms>\d{1,9})ms)?$")]
    private static partial Regex Pattern();
}
