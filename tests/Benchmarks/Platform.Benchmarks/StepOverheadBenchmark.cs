using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Platform.Testing;

namespace Platform.Benchmarks;

/// <summary>
/// Platform overhead per step: a 50-step sequential workflow whose agent is <c>true</c>, run several times on the
/// Standalone host once it is warm; and job dispatch latency (enqueued → leased by the runner) over those jobs.
/// </summary>
/// <remarks>
/// The runtime compiles the host's hot code again and again in its first tens of seconds under load (tiered
/// compilation with dynamic PGO: tier 0, an instrumented tier, then the optimized tier, on a background thread that
/// took a third of a core on this 2-core machine): the executions of that period measure the JIT as much as the
/// platform. The figure is taken after <c>warmup</c> executions and checked by the CPU time the host's JIT thread
/// spent during the measured runs; the executions right after the start are reported beside it.
/// </remarks>
internal static class StepOverheadBenchmark
{
    private const int Steps = 50;
    private const int ColdRuns = 5;

    /// <summary>Executions before the measured runs: on this machine the JIT's thread had settled (under 1% of a
    /// core) after about 100 of them, 25 seconds of steps.</summary>
    public const int DefaultWarmUp = 150;

    public static async Task RunAsync(int runs, int warmup)
    {
        await using var platform = await StandalonePlatform.StartAsync();
        var agent = (string)(await platform.PostAsync("/api/v1/agents", new { name = "true", command = new[] { "true" } }))["id"]!;
        var workflow = await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Fifty steps",
            steps = Enumerable.Range(1, Steps).Select(i => new { name = $"step-{i:00}", agent_id = agent }).ToArray(),
        });
        var workflowId = (string)workflow["id"]!;

        // The first executions after the start: the JIT is still at work (see the remarks).
        var cold = new List<double>();
        for (var run = 1; run <= ColdRuns; run++)
        {
            cold.Add((await RunOnceAsync(platform, workflowId)).Wall / Steps);
        }

        var warming = Stopwatch.StartNew();
        var warmupExecutions = Math.Max(warmup, ColdRuns);
        for (var run = ColdRuns; run < warmupExecutions; run++)
        {
            await RunOnceAsync(platform, workflowId);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"warm-up: {warmupExecutions} executions ({warmupExecutions * Steps} steps), the last {warmupExecutions - ColdRuns} in {warming.Elapsed.TotalSeconds:F1} s"));
        var jitBefore = JitThreadCpu(platform.ProcessId);
        var measuring = Stopwatch.StartNew();
        var perStep = new List<double>();
        var perStepOverhead = new List<double>();
        var measured = new List<Guid>();
        for (var run = 1; run <= runs; run++)
        {
            var (id, wall, jobTime) = await RunOnceAsync(platform, workflowId);
            measured.Add(id);
            perStep.Add(wall / Steps);
            perStepOverhead.Add((wall - jobTime) / Steps);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: {wall:F0} ms for {Steps} steps = {wall / Steps:F2} ms/step ({(wall - jobTime) / Steps:F2} ms/step outside the job processes)"));
        }

        var jitShare = (JitThreadCpu(platform.ProcessId) - jitBefore) / measuring.Elapsed.TotalMilliseconds;
        var alone = await CommandAloneAsync(runs * Steps);
        var latencies = await DispatchLatenciesAsync(platform.ConnectionString, measured);
        var hops = await HopsAsync(platform.ConnectionString, measured);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            50-step sequential workflow, agent `true`, {runs} runs after the warm-up (median):
              per step, start of execution to its end:        {Statistics.Median(perStep):F2} ms
              per step, excluding the job processes' own run: {Statistics.Median(perStepOverhead):F2} ms (started -> finished as Runner-Registry records them)
              `true` run alone as the process executor runs it (median of {alone.Count}): {Statistics.Median(alone):F2} ms
              platform overhead per step (per step - `true` alone): {Statistics.Median(perStep) - Statistics.Median(alone):F2} ms
              the host's JIT thread during these runs: {(double.IsNaN(jitShare) ? "not readable here" : string.Create(CultureInfo.InvariantCulture, $"{jitShare:P1} of a core"))}
              (right after the start, JIT still at work: {Statistics.Median(cold):F2} ms per step, overhead {Statistics.Median(cold) - Statistics.Median(alone):F2} ms; median of the first {ColdRuns} executions)
            job dispatch latency (enqueued -> leased), {latencies.Count} jobs:
              p50 {Statistics.Percentile(latencies, 50):F2} ms   p99 {Statistics.Percentile(latencies, 99):F2} ms   max {latencies.DefaultIfEmpty(double.NaN).Max():F2} ms
            where a step's time goes, from one job's end to the next one's (median over {hops.Count} steps):
              job finished -> next step decided:    {Statistics.Median(hops.Select(h => h.Decide).ToList()):F2} ms
              decided -> job enqueued:              {Statistics.Median(hops.Select(h => h.Enqueue).ToList()):F2} ms
              enqueued -> leased by the runner:     {Statistics.Median(hops.Select(h => h.Lease).ToList()):F2} ms
              leased -> started (process running):  {Statistics.Median(hops.Select(h => h.Start).ToList()):F2} ms
              started -> finished (the process):    {Statistics.Median(hops.Select(h => h.Run).ToList()):F2} ms
            (A lease granted in the transaction that enqueues the job is dated before that transaction's commit, and
            the start from the lease plus the delay the runner measured: the commit's time shows in started -> finished.)
            """));
    }

    /// <summary>
    /// CPU time of the runtime's background JIT thread (".NET Tiered Com", the tiered compilation worker) in the
    /// process in milliseconds, from Linux's /proc; NaN where that cannot be read.
    /// </summary>
    private static double JitThreadCpu(int? processId)
    {
        if (processId is null)
        {
            return double.NaN;
        }

        try
        {
            var ticks = 0L;
            foreach (var task in Directory.EnumerateDirectories($"/proc/{processId}/task"))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() != ".NET Tiered Com")
                {
                    continue;
                }

                // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th of them.
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }

            return ticks * 10.0; // /proc counts in USER_HZ, 100 per second on Linux
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    /// <returns>The execution's id, its wall time and the time its job processes ran, in milliseconds.</returns>
    private static async Task<(Guid Id, double Wall, double JobTime)> RunOnceAsync(StandalonePlatform platform, string workflowId)
    {
        var started = await platform.PostAsync($"/api/v1/workflows/{workflowId}/start", new { input = new { } });
        var execution = await platform.WaitForExecutionAsync((string)started["id"]!, TimeSpan.FromMinutes(5));
        if ((string?)execution["status"] != "EXECUTION_STATUS_SUCCEEDED")
        {
            throw new InvalidOperationException($"benchmark execution failed: {execution}");
        }

        var wall = (Time(execution, "finishedAt") - Time(execution, "createdAt")).TotalMilliseconds;
        var jobTime = execution["steps"]!.AsArray().Sum(s => (Time(s!.AsObject(), "finishedAt") - Time(s.AsObject(), "startedAt")).TotalMilliseconds);
        return (Guid.Parse((string)started["id"]!), wall, jobTime);
    }

    /// <summary>
    /// The agent's command with nothing around it: <c>true</c> started the way the process executor starts it
    /// (redirected standard streams, its own working directory, a small environment) and waited for, one after the
    /// other — what a step would cost if the platform added nothing.
    /// </summary>
    private static async Task<List<double>> CommandAloneAsync(int count)
    {
        var workspace = Directory.CreateTempSubdirectory("platform-bench-").FullName;
        try
        {
            var times = new List<double>(count);
            for (var i = 0; i < count + 10; i++)
            {
                var info = new ProcessStartInfo("true")
                {
                    UseShellExecute = false,
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    WorkingDirectory = workspace,
                };
                info.Environment.Clear();
                info.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH");
                var started = Stopwatch.GetTimestamp();
                using var process = Process.Start(info)!;
                process.StandardInput.Close();
                var output = process.StandardOutput.ReadToEndAsync();
                var error = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                await Task.WhenAll(output, error);
                if (i >= 10) // the first ten: warm-up
                {
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }

            return times;
        }
        finally
        {
            Directory.Delete(workspace, recursive: true);
        }
    }

    private static async Task<List<double>> DispatchLatenciesAsync(string connectionString, List<Guid> executions)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        const string sql = """
            SELECT EXTRACT(EPOCH FROM (leased_at - enqueued_at)) * 1000
            FROM runners.jobs WHERE leased_at IS NOT NULL AND execution_id = ANY(@executions)
            """;
        return (await connection.QueryAsync<double>(sql, new { executions })).ToList();
    }

    /// <summary>
    /// For every step after the first: the time from the previous job's end (as Runner-Registry recorded it) to the
    /// next decision (its STEP_DISPATCHED event), to that job's enqueue, lease, start and end.
    /// </summary>
    private static async Task<List<(double Decide, double Enqueue, double Lease, double Start, double Run)>> HopsAsync(string connectionString, List<Guid> executions)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        const string sql = """
            WITH steps AS (
                SELECT e.execution_id, e.sequence, e.time AS decided_at, j.enqueued_at, j.leased_at, j.started_at, j.finished_at,
                       lag(j.finished_at) OVER (PARTITION BY e.execution_id ORDER BY e.sequence) AS previous_finished_at
                FROM execution.events e
                JOIN runners.jobs j ON j.id = (e.data->>'job_id')::uuid
                WHERE e.type = 'STEP_DISPATCHED' AND e.execution_id = ANY(@executions))
            SELECT EXTRACT(EPOCH FROM (decided_at - previous_finished_at)) * 1000,
                   EXTRACT(EPOCH FROM (enqueued_at - decided_at)) * 1000,
                   EXTRACT(EPOCH FROM (leased_at - enqueued_at)) * 1000,
                   EXTRACT(EPOCH FROM (started_at - leased_at)) * 1000,
                   EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000
            FROM steps WHERE previous_finished_at IS NOT NULL
            """;
        return (await connection.QueryAsync<(double, double, double, double, double)>(sql, new { executions })).AsList();
    }

    private static DateTimeOffset Time(JsonObject o, string field) =>
        DateTimeOffset.Parse((string)o[field]!, CultureInfo.InvariantCulture);
}
