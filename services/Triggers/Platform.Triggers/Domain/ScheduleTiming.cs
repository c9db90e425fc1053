using System.Globalization;
using Cronos;
using Platform.BuildingBlocks.Errors;

namespace Platform.Triggers.Domain;

/// <summary>
/// When a schedule fires: a cron expression in an IANA time zone (Cronos computes occurrences in the zone, so a slot
/// in a skipped daylight-saving hour fires once at the transition and a repeated hour fires once, not twice) or a
/// fixed interval counted from an anchor; bounded by optional start and end times. Pure: the caller passes the time.
/// </summary>
public sealed class ScheduleTiming
{
    public const int MaxUpcoming = 100;

    private readonly CronExpression? cron;
    private readonly TimeZoneInfo zone;

    private ScheduleTiming(CronExpression? cron, TimeSpan? interval, TimeZoneInfo zone, DateTimeOffset anchor,
        DateTimeOffset? startAt, DateTimeOffset? endAt)
    {
        this.cron = cron;
        Interval = interval;
        this.zone = zone;
        Anchor = anchor;
        StartAt = startAt;
        EndAt = endAt;
    }

    public TimeSpan? Interval { get; }
    public DateTimeOffset Anchor { get; }
    public DateTimeOffset? StartAt { get; }
    public DateTimeOffset? EndAt { get; }
    public string TimeZoneId => zone.Id;

    /// <summary>Validates and builds the timing; every problem is reported at once, with the request's field names.</summary>
    /// <param name="anchor">Where an interval is counted from when there is no start time (the schedule's creation).</param>
    public static ScheduleTiming Create(string cron, string interval, string timezone, DateTimeOffset anchor,
        DateTimeOffset? startAt, DateTimeOffset? endAt)
    {
        var violations = new List<FieldViolation>();
        CronExpression? expression = null;
        TimeSpan? every = null;
        var zone = TimeZoneInfo.Utc;
        cron = cron.Trim();
        interval = interval.Trim();
        if (cron.Length > 0 == interval.Length > 0)
        {
            violations.Add(new("cron", "give exactly one of cron and interval"));
        }
        else if (cron.Length > 0)
        {
            expression = ParseCron(cron, violations);
        }
        else
        {
            every = ParseInterval(interval, violations);
        }

        if (timezone.Length > 0 && !TimeZoneInfo.TryFindSystemTimeZoneById(timezone, out zone!))
        {
            violations.Add(new("timezone", $"'{timezone}' is not an IANA time zone (like Europe/Berlin or America/New_York)"));
            zone = TimeZoneInfo.Utc;
        }
        else if (timezone.Length > 0 && every is not null)
        {
            violations.Add(new("timezone", "applies to cron schedules only"));
        }

        if (startAt is { } s && endAt is { } e && e <= s)
        {
            violations.Add(new("end_at", "must be after start_at"));
        }

        if (violations.Count > 0)
        {
            throw new ValidationFailedException(violations);
        }

        return new ScheduleTiming(expression, every, zone, startAt ?? anchor, startAt, endAt);
    }

    /// <summary>The first slot strictly after <paramref name="time"/>, or null when the schedule has ended.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset time)
    {
        DateTimeOffset? next;
        if (StartAt is { } start && time < start)
        {
            // The start time itself is a slot if it matches.
            next = cron is not null ? cron.GetNextOccurrence(start, zone, inclusive: true) : start;
        }
        else if (cron is not null)
        {
            next = cron.GetNextOccurrence(time, zone);
        }
        else
        {
            var step = Interval!.Value.Ticks;
            var elapsed = (time - Anchor).Ticks;
            next = elapsed < 0 ? Anchor : Anchor + TimeSpan.FromTicks((elapsed / step + 1) * step);
        }

        return next is { } n && EndAt is { } end && n > end ? null : next;
    }

    /// <summary>The next <paramref name="count"/> slots after <paramref name="time"/> (fewer when the schedule ends).</summary>
    public IReadOnlyList<DateTimeOffset> Upcoming(DateTimeOffset time, int count)
    {
        var slots = new List<DateTimeOffset>(count);
        var at = time;
        while (slots.Count < count && NextAfter(at) is { } next)
        {
            slots.Add(next);
            at = next;
        }

        return slots;
    }

    /// <summary>
    /// What to do with a schedule whose next slot is due: the slots from <paramref name="nextFireAt"/> up to
    /// <paramref name="now"/> are due. The latest of them fires when it is on time (within
    /// <paramref name="tolerance"/>: a busy worker is a little late), or, late after downtime, when the catch-up
    /// policy is run_once (one execution for everything missed). Every other due slot is missed.
    /// </summary>
    public DueSlots Due(DateTimeOffset nextFireAt, DateTimeOffset now, CatchUpPolicy catchUp, TimeSpan tolerance)
    {
        var latest = nextFireAt;
        var due = 1L;
        var steps = 0;
        while (NextAfter(latest) is { } next && next <= now)
        {
            if (++steps > 100_000)
            {
                // A second-precision cron after a long downtime: only the last hour can still matter.
                latest = NextAfter(now - TimeSpan.FromHours(1)) ?? latest;
                steps = int.MinValue;
                continue;
            }

            latest = next;
            due++;
        }

        var fire = now - latest <= tolerance || catchUp == CatchUpPolicy.RunOnce ? latest : (DateTimeOffset?)null;
        return new DueSlots(fire, due - (fire is null ? 0 : 1), NextAfter(latest));
    }

    private static CronExpression? ParseCron(string cron, List<FieldViolation> violations)
    {
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var format = cron.StartsWith('@')
            ? cron is "@every_second" ? CronFormat.IncludeSeconds : CronFormat.Standard
            : fields switch
            {
                5 => CronFormat.Standard,
                6 => CronFormat.IncludeSeconds,
                _ => (CronFormat?)null,
            };
        if (format is null)
        {
            violations.Add(new("cron", $"has {fields} fields; write 5 (minute hour day month weekday), 6 (seconds first) or a macro like @hourly"));
            return null;
        }

        try
        {
            return CronExpression.Parse(cron, format.Value);
        }
        catch (CronFormatException ex)
        {
            violations.Add(new("cron", $"'{cron}' is not a cron expression: {ex.Message}"));
            return null;
        }
    }

    private static TimeSpan? ParseInterval(string interval, List<FieldViolation> violations)
    {
        var unitAt = interval.Length;
        while (unitAt > 0 && !char.IsAsciiDigit(interval[unitAt - 1]))
        {
            unitAt--;
        }

        TimeSpan? value = null;
        if (unitAt > 0 && long.TryParse(interval.AsSpan(0, unitAt), NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
            && amount is > 0 and < 1_000_000_000)
        {
            value = interval[unitAt..] switch
            {
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                "d" => TimeSpan.FromDays(amount),
                _ => null,
            };
        }

        if (value is null)
        {
            violations.Add(new("interval", $"'{interval}' is not an interval like 30s, 5m, 1h or 1d"));
        }

        return value;
    }
}

/// <param name="Fire">The slot to start an execution for, or null when every due slot is missed.</param>
/// <param name="Missed">Due slots that start nothing.</param>
/// <param name="Next">The first slot after the due ones; null when the schedule has ended.</param>
public sealed record DueSlots(DateTimeOffset? Fire, long Missed, DateTimeOffset? Next);
