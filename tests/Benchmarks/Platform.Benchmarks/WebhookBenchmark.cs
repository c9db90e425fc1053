using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using Platform.Testing;

namespace Platform.Benchmarks;

/// <summary>
/// The webhook ingress on the Standalone host: accepted webhooks per second and the acknowledgement latency
/// (request sent → 202 received, p50/p99) under concurrent HMAC-signed deliveries, each of which starts an
/// execution (a one-step approval workflow, so no job processes compete with the ingress); then, one delivery at
/// a time, the time from the acknowledgement to the first step's job being enqueued and leased by the runner.
/// The load generator runs on the same machine as the platform and PostgreSQL.
/// </summary>
internal static class WebhookBenchmark
{
    public static async Task RunAsync(int webhooks, int concurrency, int sequential)
    {
        await using var platform = await StandalonePlatform.StartAsync();
        // One keep-alive connection per sender, nothing the requests do not need (proxy lookup, cookies).
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false, UseCookies = false })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        await using var connection = new NpgsqlConnection(platform.ConnectionString);

        var approval = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Webhook load",
            steps = new[] { new { name = "approve", type = "approval" } },
        }))["id"]!;
        // First with a trigger whose filter drops every delivery once recorded (no execution: Triggers answers each
        // at once, alongside the load), then the same load with every delivery starting an execution.
        foreach (var (filter, what) in new[] { ("inputs.event == 'none'", "filtered out by the trigger (no executions)"),
                     ("", "each starting an execution") })
        {
            var trigger = await platform.PostAsync("/api/v1/triggers", new { workflow_id = approval, type = "webhook", filter });
            var url = (string)trigger["url"]!;
            var secret = (string)trigger["secret"]!;
            var before = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM ingress.deliveries WHERE processed_at IS NOT NULL");

            // Warm-up, not measured: the connection pools, the trigger cache and the JIT. Tiered compilation
            // recompiles a method only after it has run 30 times and calls have paused for 100 ms, then on a background
            // thread: a few hundred deliveries leave the hot paths (the ingress's and the work every delivery causes
            // after it) being recompiled during the measured burst, which then measures the JIT on 2 cores rather than
            // the ingress. So the warm-up runs the whole path a few thousand times, then waits for Triggers to have
            // processed every delivery, then a second for the last recompilations.
            await SendAsync(http, url, secret, "warm", Warm, concurrency);
            await WaitProcessedAsync(connection, before + Warm);
            await Task.Delay(TimeSpan.FromSeconds(1));

            var clock = Stopwatch.StartNew();
            var latencies = await SendAsync(http, url, secret, "load", webhooks, concurrency);
            var elapsed = clock.Elapsed;

            await WaitProcessedAsync(connection, before + Warm + webhooks);

            var drained = clock.Elapsed;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
                webhook ingestion: {webhooks} HMAC-signed webhooks, {concurrency} concurrent senders, {what} (load average {LoadAverage()}):
                  {webhooks / elapsed.TotalSeconds:F0} accepted webhooks/s ({elapsed.TotalSeconds:F1} s)
                  acknowledgement latency p50 {Statistics.Percentile(latencies, 50):F1} ms, p99 {Statistics.Percentile(latencies, 99):F1} ms, max {latencies.Max():F1} ms
                  all {webhooks} deliveries processed by Triggers {drained.TotalSeconds:F1} s after the first was sent ({webhooks / drained.TotalSeconds:F0}/s)
                """));
        }

        var agent = (string)(await platform.PostAsync("/api/v1/agents", new { name = "true", command = new[] { "true" } }))["id"]!;
        var work = (string)(await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Webhook dispatch",
            steps = new[] { new { name = "first", agent_id = agent }, new { name = "second", agent_id = agent } },
        }))["id"]!;
        var dispatchTrigger = await platform.PostAsync("/api/v1/triggers", new { workflow_id = work, type = "webhook" });
        var enqueued = new List<double>();
        var leased = new List<double>();
        for (var i = 0; i < sequential + 5; i++)
        {
            var body = $$"""{"n":{{i}}}""";
            var (acknowledgedAt, deliveryId) = await SendOneAsync(http, (string)dispatchTrigger["url"]!, (string)dispatchTrigger["secret"]!, body);
            (DateTime Enqueued, DateTime Leased)? job = null;
            while (job is null)
            {
                job = await connection.QuerySingleOrDefaultAsync<(DateTime, DateTime)?>("""
                    SELECT j.enqueued_at, j.leased_at FROM ingress.deliveries d
                    JOIN runners.jobs j ON j.execution_id = d.execution_id AND j.step_name = 'first'
                    WHERE d.id = @deliveryId AND j.leased_at IS NOT NULL
                    """, new { deliveryId });
                if (job is null)
                {
                    await Task.Delay(2);
                }
            }

            // The first five warm the path up.
            if (i >= 5)
            {
                enqueued.Add((new DateTimeOffset(job.Value.Enqueued, TimeSpan.Zero) - acknowledgedAt).TotalMilliseconds);
                leased.Add((new DateTimeOffset(job.Value.Leased, TimeSpan.Zero) - acknowledgedAt).TotalMilliseconds);
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            acknowledgement -> first step's job, {sequential} webhooks one at a time:
              enqueued in Runner-Registry p50 {Statistics.Percentile(enqueued, 50):F1} ms, p99 {Statistics.Percentile(enqueued, 99):F1} ms
              leased by the runner (dispatched) p50 {Statistics.Percentile(leased, 50):F1} ms, p99 {Statistics.Percentile(leased, 99):F1} ms
            """));
    }

    private const int Warm = 3000;

    private static async Task WaitProcessedAsync(NpgsqlConnection connection, long processed)
    {
        while (await connection.ExecuteScalarAsync<long>(
                   "SELECT count(*) FROM ingress.deliveries WHERE processed_at IS NOT NULL") < processed)
        {
            await Task.Delay(100);
        }
    }

    /// <summary>The machine's 1-minute load average: the figures mean little when other work shares the cores.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";

    private static async Task<List<double>> SendAsync(HttpClient http, string url, string secret, string prefix, int count, int concurrency)
    {
        // Every request is its own delivery (distinct body, signature and delivery id), prepared before the clock
        // starts: the load generator shares the cores with the platform, so what it spends signing is not spent
        // serving.
        var key = Encoding.UTF8.GetBytes(secret);
        var requests = new (byte[] Body, string Signature, string Id)[count];
        for (var i = 0; i < count; i++)
        {
            var body = Encoding.UTF8.GetBytes($$"""{"event":"push","sequence":{{i}},"ref":"refs/heads/main"}""");
            requests[i] = (body, Convert.ToHexStringLower(HMACSHA256.HashData(key, body)), $"{prefix}-{i}");
        }

        var target = new Uri(url);
        var latencies = new double[count];
        var next = -1;
        var senders = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var (body, signature, id) = requests[i];
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = Json;
                using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = content };
                request.Headers.TryAddWithoutValidation("X-Webhook-Signature", signature);
                request.Headers.TryAddWithoutValidation("X-Webhook-Id", id);
                var started = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(request);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw new InvalidOperationException($"webhook {i}: HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
        });
        await Task.WhenAll(senders);
        return [.. latencies];
    }

    private static readonly System.Net.Http.Headers.MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    private static async Task<(DateTimeOffset AcknowledgedAt, Guid DeliveryId)> SendOneAsync(HttpClient http, string url, string secret, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Webhook-Signature", Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body))));
        using var response = await http.SendAsync(request);
        var acknowledgedAt = DateTimeOffset.UtcNow;
        var answer = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (acknowledgedAt, answer.RootElement.GetProperty("delivery_id").GetGuid());
    }
}
