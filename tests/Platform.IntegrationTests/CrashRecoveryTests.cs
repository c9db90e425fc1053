using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>kill -9 of the Standalone host in the middle of an execution, then the same command again.</summary>
public sealed class CrashRecoveryTests
{
    [Fact]
    public async Task An_execution_finishes_after_the_platform_is_killed_while_a_step_runs()
    {
        await using var platform = await StandalonePlatform.StartAsync();
        var ok = (string)(await platform.PostAsync("/api/v1/agents", new { name = "ok", command = new[] { "true" } }))["id"]!;
        var slow = (string)(await platform.PostAsync("/api/v1/agents", new
        {
            name = "slow",
            command = new[] { "sh", "-c", "sleep 2; echo done=yes >> \"$PLATFORM_OUTPUTS\"" },
        }))["id"]!;
        var workflow = await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Crash",
            steps = new[] { new { name = "before", agent_id = ok }, new { name = "slow", agent_id = slow }, new { name = "after", agent_id = ok } },
        });
        var started = await platform.PostAsync($"/api/v1/workflows/{workflow["id"]}/start", new { input = new { } });
        var id = (string)started["id"]!;
        await platform.WaitForStepStatusAsync(id, "slow", "STEP_STATUS_RUNNING", TimeSpan.FromSeconds(30));

        await platform.KillAndRestartAsync();
        var execution = await platform.WaitForExecutionAsync(id, TimeSpan.FromSeconds(90));

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("yes", (string?)StandalonePlatform.Step(execution, "slow")["outputs"]!["done"]);
        var history = await platform.GetAsync($"/api/v1/executions/{id}/history");
        var events = history["events"]!.AsArray().Select(e => e!.AsObject()).ToList();
        foreach (var step in new[] { "before", "slow", "after" })
        {
            var results = events.Count(e => (string?)e["step"] == step && (string?)e["type"] is "STEP_SUCCEEDED" or "STEP_FAILED");
            Assert.True(results == 1, $"step {step} has {results} results in {history}");
        }

        Assert.Single(events, e => (string?)e["type"] == "EXECUTION_FINISHED");
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            events.Select(e => e["sequence"]!.ToString()));
    }

    [Fact]
    public async Task An_accepted_start_survives_a_kill_right_after_it_was_acknowledged()
    {
        await using var platform = await StandalonePlatform.StartAsync();
        var ok = (string)(await platform.PostAsync("/api/v1/agents", new { name = "ok", command = new[] { "true" } }))["id"]!;
        var workflow = await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Acknowledged",
            steps = new[] { new { name = "a", agent_id = ok }, new { name = "b", agent_id = ok } },
        });
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((string)(await platform.PostAsync($"/api/v1/workflows/{workflow["id"]}/start", new { input = new { i } }))["id"]!);
        }

        await platform.KillAndRestartAsync();

        foreach (var id in ids)
        {
            var execution = await platform.WaitForExecutionAsync(id, TimeSpan.FromSeconds(60));
            Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        }

        if (Environment.GetEnvironmentVariable("PLATFORM_TEST_DUMP") is not null)
        {
            await File.WriteAllTextAsync("/tmp/crash-dump.log", platform.Output);
        }
    }
}
