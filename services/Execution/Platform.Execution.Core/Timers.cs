using System.Globalization;

namespace Platform.Execution.Core;

/// <summary>What a timer is for.</summary>
public enum TimerPurpose
{
    /// <summary><c>retry:{step}:{attempt}</c>: the backoff before attempt <c>attempt</c>; firing dispatches it.</summary>
    Retry,

    /// <summary><c>timeout:{step}:{attempt}</c>: the limit on that attempt; firing fails the attempt and cancels its job.</summary>
    AttemptTimeout,

    /// <summary><c>approval-timeout:{step}</c>: how long an approval waits; firing fails the step.</summary>
    ApprovalTimeout,

    /// <summary><c>execution-timeout</c>: the limit on the whole execution; firing stops it like a cancel, ending Failed.</summary>
    ExecutionTimeout,
}

/// <summary>An active timer: what it is for and the delay the host recorded (from its <see cref="TimerScheduled"/>).</summary>
/// <param name="Step">The step it belongs to; null for the execution timeout.</param>
/// <param name="Attempt">For a retry: the attempt it will dispatch; for an attempt timeout: the attempt it limits; else null.</param>
public sealed record TimerState(TimerPurpose Purpose, TimeSpan Delay, string? Step, int? Attempt);

/// <summary>
/// The deterministic timer ids the host stores and fires back. Step names may contain ':' (the attempt is after the
/// last one).
/// </summary>
public static class TimerIds
{
    public const string ExecutionTimeout = "execution-timeout";

    private const string RetryPrefix = "retry:";
    private const string AttemptTimeoutPrefix = "timeout:";
    private const string ApprovalTimeoutPrefix = "approval-timeout:";

    /// <summary><c>retry:{step}:{attempt}</c>: fires → DispatchStep(step, attempt).</summary>
    public static string Retry(string step, int attempt) => string.Create(CultureInfo.InvariantCulture, $"{RetryPrefix}{step}:{attempt}");

    /// <summary><c>timeout:{step}:{attempt}</c>.</summary>
    public static string AttemptTimeout(string step, int attempt) => string.Create(CultureInfo.InvariantCulture, $"{AttemptTimeoutPrefix}{step}:{attempt}");

    /// <summary><c>approval-timeout:{step}</c>.</summary>
    public static string ApprovalTimeout(string step) => ApprovalTimeoutPrefix + step;

    /// <summary>Splits a timer id; false for an id that is none of the four forms. Attempt is 0 where the id has none.</summary>
    public static bool TryParse(string? timerId, out TimerPurpose purpose, out string? step, out int attempt)
    {
        purpose = default;
        step = null;
        attempt = 0;
        if (timerId is null)
        {
            return false;
        }

        if (timerId == ExecutionTimeout)
        {
            purpose = TimerPurpose.ExecutionTimeout;
            return true;
        }

        if (timerId.StartsWith(ApprovalTimeoutPrefix, StringComparison.Ordinal))
        {
            purpose = TimerPurpose.ApprovalTimeout;
            step = timerId[ApprovalTimeoutPrefix.Length..];
            return step.Length > 0;
        }

        string rest;
        if (timerId.StartsWith(RetryPrefix, StringComparison.Ordinal))
        {
            purpose = TimerPurpose.Retry;
            rest = timerId[RetryPrefix.Length..];
        }
        else if (timerId.StartsWith(AttemptTimeoutPrefix, StringComparison.Ordinal))
        {
            purpose = TimerPurpose.AttemptTimeout;
            rest = timerId[AttemptTimeoutPrefix.Length..];
        }
        else
        {
            return false;
        }

        var colon = rest.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out attempt)
            || attempt < 1)
        {
            attempt = 0;
            return false;
        }

        step = rest[..colon];
        return true;
    }

    /// <summary>The step a timer belongs to; null for the execution timeout and for an id that is not a timer id.</summary>
    public static string? StepOf(string? timerId) => TryParse(timerId, out _, out var step, out _) ? step : null;
}

/// <summary>Durations as the workflow language writes them: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>.</summary>
public static class Durations
{
    /// <summary>The largest whole unit that expresses the duration exactly: 1h, 90m, 30s, 1500ms (0s for zero).</summary>
    public static string Format(TimeSpan duration)
    {
        var ticks = duration.Ticks;
        var sign = ticks < 0 ? "-" : "";
        var magnitude = ticks == long.MinValue ? long.MaxValue : Math.Abs(ticks);
        return magnitude == 0 ? "0s"
            : magnitude % TimeSpan.TicksPerHour == 0 ? Text(sign, magnitude / TimeSpan.TicksPerHour, "h")
            : magnitude % TimeSpan.TicksPerMinute == 0 ? Text(sign, magnitude / TimeSpan.TicksPerMinute, "m")
            : magnitude % TimeSpan.TicksPerSecond == 0 ? Text(sign, magnitude / TimeSpan.TicksPerSecond, "s")
            : magnitude % TimeSpan.TicksPerMillisecond == 0 ? Text(sign, magnitude / TimeSpan.TicksPerMillisecond, "ms")
            : sign + (magnitude / (double)TimeSpan.TicksPerMillisecond).ToString(CultureInfo.InvariantCulture) + "ms";
    }

    private static string Text(string sign, long amount, string unit) =>
        sign + amount.ToString(CultureInfo.InvariantCulture) + unit;
}
