using Platform.BuildingBlocks.Errors;
using Platform.Triggers.Domain;

namespace Platform.Triggers.Tests;

public sealed class ScheduleTimingTests
{
    private static readonly DateTimeOffset Created = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static ScheduleTiming Cron(string cron, string timezone = "", DateTimeOffset? start = null, DateTimeOffset? end = null) =>
        ScheduleTiming.Create(cron, "", timezone, Created, start, end);

    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    [Fact]
    public void Five_field_cron_fires_at_each_matching_minute()
    {
        var timing = Cron("*/15 9-10 * * 1-5");
        var friday = Utc(2026, 11, 27, 10, 50);

        Assert.Equal([Utc(2026, 11, 30, 9, 0), Utc(2026, 11, 30, 9, 15), Utc(2026, 11, 30, 9, 30)], timing.Upcoming(friday, 3));
    }

    [Fact]
    public void Six_field_cron_has_seconds_first_and_macros_are_understood()
    {
        Assert.Equal([Utc(2026, 3, 1, 12, 0, 10), Utc(2026, 3, 1, 12, 0, 40)],
            Cron("10,40 * * * * *").Upcoming(Utc(2026, 3, 1, 12, 0, 0), 2));
        Assert.Equal(Utc(2026, 3, 1, 13, 0), Cron("@hourly").NextAfter(Utc(2026, 3, 1, 12, 0, 1)));
        Assert.Equal(Utc(2026, 3, 2, 0, 0), Cron("@daily").NextAfter(Utc(2026, 3, 1, 12, 0)));
    }

    [Fact]
    public void Cron_in_a_time_zone_follows_its_daylight_saving_offsets()
    {
        var timing = Cron("0 9 * * *", "America/New_York");

        // 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT); DST starts 2026-03-08.
        Assert.Equal([Utc(2026, 3, 7, 14, 0), Utc(2026, 3, 8, 13, 0), Utc(2026, 3, 9, 13, 0)],
            timing.Upcoming(Utc(2026, 3, 7, 0, 0), 3));
    }

    [Fact]
    public void A_slot_in_the_hour_skipped_by_spring_forward_fires_once_at_the_transition()
    {
        // Berlin skips 02:00-03:00 on 2026-03-29: 02:30 does not exist that day.
        var timing = Cron("30 2 * * *", "Europe/Berlin");

        Assert.Equal([Utc(2026, 3, 28, 1, 30), Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 30, 0, 30)],
            timing.Upcoming(Utc(2026, 3, 28, 0, 0), 3));
    }

    [Fact]
    public void A_slot_in_the_hour_repeated_by_fall_back_fires_once_not_twice()
    {
        // Berlin repeats 02:00-03:00 on 2026-10-25 (first CEST, UTC+2, then CET, UTC+1).
        var timing = Cron("30 2 * * *", "Europe/Berlin");

        Assert.Equal([Utc(2026, 10, 24, 0, 30), Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 26, 1, 30)],
            timing.Upcoming(Utc(2026, 10, 24, 0, 0), 3));
    }

    [Fact]
    public void An_hourly_cron_keeps_a_real_hour_between_slots_across_fall_back()
    {
        var slots = Cron("0 * * * *", "Europe/Berlin").Upcoming(Utc(2026, 10, 24, 23, 30), 5);

        Assert.All(slots.Zip(slots.Skip(1)), pair => Assert.Equal(TimeSpan.FromHours(1), pair.Second - pair.First));
    }

    [Fact]
    public void An_interval_counts_from_the_start_and_stops_at_the_end()
    {
        var start = Utc(2026, 5, 1, 10, 0);
        var timing = ScheduleTiming.Create("", "90s", "", Created, start, Utc(2026, 5, 1, 10, 4));

        Assert.Equal([Utc(2026, 5, 1, 10, 0), Utc(2026, 5, 1, 10, 1, 30), Utc(2026, 5, 1, 10, 3)],
            timing.Upcoming(Utc(2026, 4, 1, 0, 0), 10));
        Assert.Equal(Utc(2026, 5, 1, 10, 3), timing.NextAfter(Utc(2026, 5, 1, 10, 2, 59)));
        Assert.Null(timing.NextAfter(Utc(2026, 5, 1, 10, 3)));
    }

    [Fact]
    public void A_cron_schedule_starts_at_its_start_time_and_ends_at_its_end_time()
    {
        var timing = Cron("0 12 * * *", start: Utc(2026, 6, 10, 12, 0), end: Utc(2026, 6, 11, 12, 0));

        Assert.Equal([Utc(2026, 6, 10, 12, 0), Utc(2026, 6, 11, 12, 0)], timing.Upcoming(Utc(2026, 1, 1, 0, 0), 5));
    }

    [Fact]
    public void Invalid_timing_names_each_field()
    {
        var both = Assert.Throws<ValidationFailedException>(() => ScheduleTiming.Create("* * * * *", "5m", "", Created, null, null));
        Assert.Equal("cron", Assert.Single(both.Violations).Field);

        var bad = Assert.Throws<ValidationFailedException>(() =>
            ScheduleTiming.Create("61 * * * *", "", "Europe/Atlantis", Created, Utc(2026, 2, 1, 0, 0), Utc(2026, 1, 1, 0, 0)));
        Assert.Equal(["cron", "timezone", "end_at"], bad.Violations.Select(v => v.Field));

        Assert.Equal("cron", Assert.Single(Assert.Throws<ValidationFailedException>(() => Cron("* * *")).Violations).Field);
        Assert.Equal("interval", Assert.Single(Assert.Throws<ValidationFailedException>(() =>
            ScheduleTiming.Create("", "5 minutes", "", Created, null, null)).Violations).Field);
        Assert.Equal("interval", Assert.Single(Assert.Throws<ValidationFailedException>(() =>
            ScheduleTiming.Create("", "0s", "", Created, null, null)).Violations).Field);
    }

    [Fact]
    public void A_slot_on_time_fires_and_the_next_one_is_after_now()
    {
        var timing = ScheduleTiming.Create("", "10s", "", Utc(2026, 1, 1, 0, 0), null, null);

        var due = timing.Due(Utc(2026, 1, 1, 0, 0, 10), Utc(2026, 1, 1, 0, 0, 10), CatchUpPolicy.Skip, TimeSpan.FromMinutes(1));

        Assert.Equal(new DueSlots(Utc(2026, 1, 1, 0, 0, 10), 0, Utc(2026, 1, 1, 0, 0, 20)), due);
    }

    [Fact]
    public void After_downtime_skip_fires_nothing_and_run_once_fires_the_latest_missed_slot_once()
    {
        var timing = ScheduleTiming.Create("", "10s", "", Utc(2026, 1, 1, 0, 0), null, null);
        var next = Utc(2026, 1, 1, 0, 0, 10);
        var now = Utc(2026, 1, 1, 1, 0, 5);

        var skip = timing.Due(next, now, CatchUpPolicy.Skip, TimeSpan.FromSeconds(1));
        var once = timing.Due(next, now, CatchUpPolicy.RunOnce, TimeSpan.FromSeconds(1));

        Assert.Equal(new DueSlots(null, 360, Utc(2026, 1, 1, 1, 0, 10)), skip);
        Assert.Equal(new DueSlots(Utc(2026, 1, 1, 1, 0, 0), 359, Utc(2026, 1, 1, 1, 0, 10)), once);
    }

    [Fact]
    public void A_short_restart_within_the_tolerance_still_fires_the_latest_slot()
    {
        var timing = Cron("* * * * *");

        var due = timing.Due(Utc(2026, 1, 1, 0, 1), Utc(2026, 1, 1, 0, 3, 20), CatchUpPolicy.Skip, TimeSpan.FromMinutes(1));

        Assert.Equal(new DueSlots(Utc(2026, 1, 1, 0, 3), 2, Utc(2026, 1, 1, 0, 4)), due);
    }
}
