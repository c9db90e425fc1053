using System.Diagnostics;
using System.Globalization;
using Dapper;
using Npgsql;
using Platform.Testing;

namespace Platform.Benchmarks;

/// <summary>
/// Sustained throughput on the embedded engine: many 3-step executions (agent <c>true</c>) started concurrently;
/// executions/s and steps/s over the whole run, and each execution's start-to-finish latency (p50/p99).
/// </summary>
internal static class ThroughputBenchmark
{
    private const int WarmUpExecutions = 1000;

    public static async Task RunAsync(int executions, int concurrency, int runnerCapacity)
    {
        await using var platform = await StandalonePlatform.StartAsync(new Dictionary<string, string>
        {
            ["EmbeddedRunner__Capacity"] = runnerCapacity.ToString(CultureInfo.InvariantCulture),
        });
        var agent = (string)(await platform.PostAsync("/api/v1/agents", new { name = "true", command = new[] { "true" } }))["id"]!;
        var workflow = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Three steps",
            steps = new[] { new { name = "a", agent_id = agent }, new { name = "b", agent_id = agent }, new { name = "c", agent_id = agent } },
        }))["id"]!;
        // A round of the same load first, unmeasured: the JIT's work on a freshly started host (see
        // StepOverheadBenchmark) would otherwise be measured with it.
        await RunRoundAsync(platform, workflow, WarmUpExecutions, concurrency);
        var (started, elapsed, since) = await RunRoundAsync(platform, workflow, executions, concurrency);

        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var latencies = (await connection.QueryAsync<double>("""
            SELECT EXTRACT(EPOCH FROM (finished_at - created_at)) * 1000 FROM execution.executions
            WHERE created_at >= @since
            """, new { since })).ToList();
        var failed = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM execution.executions WHERE status <> 'SUCCEEDED' AND created_at >= @since", new { since });
        if (latencies.Count != executions)
        {
            throw new InvalidOperationException($"{latencies.Count} executions measured, {executions} started");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            {executions} executions of 3 steps (agent `true`), {concurrency} concurrent starters, runner capacity {runnerCapacity}, after {WarmUpExecutions} unmeasured:
              all started in {started.TotalSeconds:F1} s, all finished in {elapsed.TotalSeconds:F1} s ({failed} not succeeded)
              {executions / elapsed.TotalSeconds:F1} executions/s, {3 * executions / elapsed.TotalSeconds:F1} steps/s
              end-to-end latency p50 {Statistics.Percentile(latencies, 50):F0} ms, p99 {Statistics.Percentile(latencies, 99):F0} ms
            """));
    }

    /// <summary>Starts <paramref name="executions"/> executions from <paramref name="concurrency"/> starters and waits
    /// until every execution has finished.</summary>
    /// <returns>How long the starts took, how long until the last finished, and the database's time before the first
    /// start.</returns>
    private static async Task<(TimeSpan Started, TimeSpan Elapsed, DateTime Since)> RunRoundAsync(StandalonePlatform platform,
        string workflow, int executions, int concurrency)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var since = await connection.ExecuteScalarAsync<DateTime>("SELECT now()");
        var clock = Stopwatch.StartNew();
        var next = 0;
        var starters = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= executions)
            {
                await platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { input = new { } });
            }
        });
        await Task.WhenAll(starters);
        var started = clock.Elapsed;
        while (await connection.ExecuteScalarAsync<long>(
                   "SELECT count(*) FROM execution.executions WHERE finished_at IS NULL") > 0)
        {
            await Task.Delay(20);
        }

        return (started, clock.Elapsed, since);
    }
}
