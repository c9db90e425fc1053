using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Platform.IntegrationTests;

/// <summary>
/// The proof of durability: many executions mixing retries, timeouts, parallel branches and compensation while the
/// Standalone host is killed with SIGKILL at random moments and started again. Every execution must reach the
/// terminal state its definition implies, no step result may be applied twice, none may be left running.
/// </summary>
public sealed class CrashSafetyTests(ITestOutputHelper output) : IDisposable
{
    private const int Executions = 50;
    private const int Kills = 5;
    private readonly string scratch = Directory.CreateTempSubdirectory("platform-crash-").FullName;

    [Fact]
    public async Task Fifty_executions_reach_their_implied_end_through_five_SIGKILLs()
    {
        await using var platform = await StandalonePlatform.StartAsync();
        async Task Agent(string name, params string[] command) =>
            await platform.PostAsync("/api/v1/agents", new { name, command, env = new Dictionary<string, string> { ["D"] = scratch } });
        await Agent("ok", "true");
        await Agent("slow", "sleep", "0.5");
        // Fails its first attempt in each execution, succeeds on the retry.
        await Agent("flaky", "sh", "-c", "m=\"$D/$PLATFORM_EXECUTION_ID-$PLATFORM_STEP\"; if [ -f \"$m\" ]; then exit 0; fi; touch \"$m\"; exit 1");
        await Agent("hang", "sleep", "5");
        await Agent("undo", "true");
        await Agent("broken", "false");

        var expected = new Dictionary<string, string>
        {
            [await Import(platform, """
                name: Retries and branches
                steps:
                  - name: prepare
                    agent: ok
                  - parallel:
                      - name: left
                        agent: flaky
                        retry: { max_attempts: 3, backoff: { initial: 100ms, jitter: false } }
                      - name: right
                        agent: slow
                  - name: finish
                    agent: ok
                """)] = "EXECUTION_STATUS_SUCCEEDED",
            [await Import(platform, """
                name: Saga
                steps:
                  - name: reserve
                    agent: slow
                    compensate: { agent: undo }
                  - name: charge
                    agent: ok
                    compensate: { agent: undo }
                  - name: ship
                    agent: broken
                """)] = "EXECUTION_STATUS_FAILED",
            [await Import(platform, """
                name: Timeouts
                steps:
                  - name: book
                    agent: ok
                    compensate: { agent: undo }
                  - name: wait
                    agent: hang
                    timeout: 1s
                    retry: { max_attempts: 2, backoff: { initial: 100ms } }
                """)] = "EXECUTION_STATUS_FAILED",
        };
        var workflows = expected.Keys.ToArray();

        var random = new Random(20261123);
        var started = new List<(string Id, string Workflow)>();
        var kills = 0;
        var nextKillAt = random.Next(5, 12);
        for (var i = 0; i < Executions; i++)
        {
            var workflow = workflows[i % workflows.Length];
            var execution = await platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { input = new { i } });
            started.Add(((string)execution["id"]!, workflow));
            if (i + 1 == nextKillAt && kills < Kills)
            {
                await Task.Delay(random.Next(0, 800));
                await platform.KillAndRestartAsync();
                kills++;
                nextKillAt = i + 1 + random.Next(5, 10);
            }
        }

        while (kills < Kills)
        {
            await Task.Delay(random.Next(200, 1500));
            await platform.KillAndRestartAsync();
            kills++;
        }

        var outcomes = new Dictionary<string, int>();
        foreach (var (id, workflow) in started)
        {
            var execution = await platform.WaitForExecutionAsync(id, TimeSpan.FromSeconds(120));
            var status = (string)execution["status"]!;
            outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
            Assert.True(expected[workflow] == status, $"execution {id} of {workflow}: {status}, expected {expected[workflow]}: {execution}");
            await AssertNoResultAppliedTwiceAsync(platform, id);
            if (status == "EXECUTION_STATUS_FAILED")
            {
                var compensated = execution["steps"]!.AsArray()
                    .Where(s => (string?)s!["status"] == "STEP_STATUS_SUCCEEDED" && (string?)s["compensation"] != "NONE")
                    .ToList();
                Assert.All(compensated, s => Assert.Equal("SUCCEEDED", (string?)s!["compensation"]));
                Assert.NotEmpty(compensated);
            }
        }

        output.WriteLine($"{started.Count} executions, {kills} SIGKILLs: " +
            string.Join(", ", outcomes.Select(o => $"{o.Value} {o.Key}")) + "; no step result applied twice, none left running");
        Console.WriteLine($"crash safety: {started.Count} executions, {kills} SIGKILLs, " + string.Join(", ", outcomes.Select(o => $"{o.Value} {o.Key}")));
    }

    private static async Task<string> Import(StandalonePlatform platform, string yaml) =>
        (string)(await platform.PostAsync("/api/v1/workflows:import", new { yaml }))["id"]!;

    private static async Task AssertNoResultAppliedTwiceAsync(StandalonePlatform platform, string id)
    {
        var history = await platform.GetAsync($"/api/v1/executions/{id}/history");
        var results = history["events"]!.AsArray()
            .Select(e => e!.AsObject())
            .Where(e => (string?)e["type"] is "STEP_SUCCEEDED" or "STEP_FAILED" or "STEP_CANCELLED" or "COMPENSATION_SUCCEEDED" or "COMPENSATION_FAILED")
            .GroupBy(e => (((string)e["type"]!).StartsWith("COMPENSATION", StringComparison.Ordinal), (string?)e["step"], e["attempt"]?.ToString()))
            .Where(g => g.Count() > 1)
            .ToList();
        Assert.True(results.Count == 0, $"execution {id} applied a result twice: {history}");
        Assert.Single(history["events"]!.AsArray(), e => (string?)e!["type"] == "EXECUTION_FINISHED");
    }

    public void Dispose() => Directory.Delete(scratch, recursive: true);
}
