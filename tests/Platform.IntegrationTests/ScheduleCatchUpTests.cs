using System.Globalization;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>Slots that pass while the platform is down follow the schedule's catch-up policy.</summary>
public sealed class ScheduleCatchUpTests
{
    [Fact]
    public async Task After_downtime_skip_fires_nothing_for_the_missed_slots_and_run_once_fires_one_execution()
    {
        await using var platform = await StandalonePlatform.StartAsync(new Dictionary<string, string>
        {
            // A slot more than a second late counts as missed (default: a minute).
            ["Triggers__OnTimeToleranceSeconds"] = "1",
        });
        var workflow = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Catch up",
            steps = new[] { new { name = "approve", type = "approval" } },
        }))["id"]!;
        // Two slots, 3 and 5 seconds from now, both passing while the platform is down.
        var start = DateTimeOffset.UtcNow.AddSeconds(3);
        var window = new { start_at = start.ToString("O", CultureInfo.InvariantCulture), end_at = start.AddSeconds(2.5).ToString("O", CultureInfo.InvariantCulture) };
        var skip = await platform.PostAsync("/api/v1/schedules", new { workflow_id = workflow, interval = "2s", catch_up = "skip", window.start_at, window.end_at });
        var once = await platform.PostAsync("/api/v1/schedules", new { workflow_id = workflow, interval = "2s", catch_up = "run_once", window.start_at, window.end_at });
        Assert.Equal(2, once["nextFireTimes"]!.AsArray().Count);

        await platform.KillAsync();
        var downFor = start.AddSeconds(5) - DateTimeOffset.UtcNow;
        Assert.True(downFor > TimeSpan.FromSeconds(3), "the platform went down before the first slot");
        await Task.Delay(downFor);
        await platform.StartAgainAsync();
        await Task.Delay(TimeSpan.FromSeconds(2));

        var skipped = await platform.GetAsync($"/api/v1/schedules/{skip["id"]}");
        var caughtUp = await platform.GetAsync($"/api/v1/schedules/{once["id"]}");
        Assert.Empty(skipped["recentFires"]!.AsArray());
        Assert.Empty(skipped["nextFireTimes"]!.AsArray());
        var fire = Assert.Single(caughtUp["recentFires"]!.AsArray())!.AsObject();
        Assert.Equal("started", (string?)fire["outcome"]);
        Assert.Equal(start.AddSeconds(2), DateTimeOffset.Parse((string)fire["slotTime"]!, CultureInfo.InvariantCulture), TimeSpan.FromMilliseconds(1));
        Assert.Empty(caughtUp["nextFireTimes"]!.AsArray());
        var executions = (await platform.GetAsync($"/api/v1/executions?workflow_id={workflow}"))["executions"]!.AsArray();
        Assert.Equal((string?)fire["executionId"], (string?)Assert.Single(executions)!["id"]);
    }
}
