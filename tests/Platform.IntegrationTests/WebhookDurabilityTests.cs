using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Npgsql;
using Platform.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Platform.IntegrationTests;

/// <summary>
/// The proof of DESIGN §5 for webhooks: the ingress answers 2xx only once a delivery is durably recorded, and each
/// accepted delivery yields exactly one execution, while the Standalone host is SIGKILLed and restarted.
/// </summary>
public sealed class WebhookDurabilityTests(ITestOutputHelper output)
{
    private const int Unique = 850;
    private const int Duplicates = 100;
    private const int Forged = 50;

    [Fact]
    public async Task Every_accepted_delivery_has_exactly_one_execution_and_every_rejected_one_none_through_three_SIGKILLs()
    {
        await using var platform = await StandalonePlatform.StartAsync(new Dictionary<string, string>
        {
            // The periodic redelivery is a safety net; a restart sends unanswered deliveries again at once.
            ["Ingress__RedeliverAfterSeconds"] = "10",
        });
        // An approval step: every execution exists and waits, so the test measures deliveries, not job processes.
        var workflow = await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Durable webhooks",
            steps = new[] { new { name = "approve", type = "approval" } },
        });
        var trigger = await platform.PostAsync("/api/v1/triggers", new { workflow_id = (string)workflow["id"]!, type = "webhook" });
        var secret = (string)trigger["secret"]!;
        var url = (string)trigger["url"]!;

        // 1,000 sends: 850 deliveries, 100 copies of some of them (10%), 50 with a forged signature, shuffled.
        var random = new Random(20261124);
        var sends = new List<(string Id, string Body, bool Forged)>();
        for (var i = 0; i < Unique; i++)
        {
            sends.Add(($"d-{i}", $$"""{"n":{{i}}}""", false));
        }

        for (var i = 0; i < Duplicates; i++)
        {
            var copy = sends[random.Next(Unique)];
            sends.Add(copy);
        }

        for (var i = 0; i < Forged; i++)
        {
            sends.Add(($"forged-{i}", $$"""{"forged":{{i}}}""", true));
        }

        var queue = new ConcurrentQueue<(string Id, string Body, bool Forged)>(sends.OrderBy(_ => random.Next()));
        var answers = new ConcurrentBag<(string Id, int Status, bool Forged)>();
        var sent = 0;
        var retries = 0;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();

        async Task SendAllAsync()
        {
            while (queue.TryDequeue(out var item))
            {
                var signature = Webhooks.Hmac(item.Forged ? "not the secret" : secret, item.Body);
                while (true)
                {
                    try
                    {
                        var (status, _) = await Webhooks.PostAsync(http, url, item.Body, ("X-Webhook-Signature", signature), ("X-Webhook-Id", item.Id));
                        if (status is 202 or 401)
                        {
                            answers.Add((item.Id, status, item.Forged));
                            Interlocked.Increment(ref sent);
                            break;
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                    }

                    // Down or restarting: a sender retries until it has an answer.
                    Interlocked.Increment(ref retries);
                    await Task.Delay(50);
                }
            }
        }

        async Task KillThriceAsync()
        {
            foreach (var at in new[] { 200, 450, 700 })
            {
                while (Volatile.Read(ref sent) < at)
                {
                    await Task.Delay(5);
                }

                await platform.KillAndRestartAsync();
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SendAllAsync()).Append(KillThriceAsync()));
        var sendingTook = clock.Elapsed;

        var accepted = answers.Where(a => a.Status == 202).Select(a => a.Id).ToHashSet();
        var rejected = answers.Where(a => a.Status == 401).Select(a => a.Id).ToHashSet();
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var prefix = $"webhook:{trigger["id"]}:id:";
        List<(string Key, long Count)> executions = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            executions = (await connection.QueryAsync<(string, long)>("""
                SELECT idempotency_key, count(*) FROM execution.executions WHERE workflow_id = @workflow GROUP BY idempotency_key
                """, new { workflow = Guid.Parse((string)workflow["id"]!) })).AsList();
            if (executions.Count >= accepted.Count)
            {
                break;
            }

            await Task.Delay(200);
        }

        var byDelivery = executions.ToDictionary(e => e.Key.StartsWith(prefix, StringComparison.Ordinal) ? e.Key[prefix.Length..] : e.Key, e => e.Count);
        var recorded = await connection.QuerySingleAsync<(long Accepted, long Rejected, long Duplicates)>("""
            SELECT count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'rejected'), coalesce(sum(duplicates), 0)
            FROM ingress.deliveries
            """);
        var summary = $"""
            {sends.Count} webhooks sent ({Unique} deliveries, {Duplicates} duplicates, {Forged} forged) by 8 senders in {sendingTook.TotalSeconds:F1} s,
            through 3 SIGKILLs and restarts ({retries} sends retried while the platform was down);
            answers: {answers.Count(a => a.Status == 202)} x 202 for {accepted.Count} distinct accepted deliveries, {answers.Count(a => a.Status == 401)} x 401 for {rejected.Count} forged ones;
            recorded: {recorded.Accepted} accepted deliveries ({recorded.Duplicates} duplicates counted on them), {recorded.Rejected} rejected;
            executions: {executions.Sum(e => e.Count)} for {byDelivery.Count} delivery keys, {byDelivery.Count(e => e.Value == 1 && accepted.Contains(e.Key))} accepted deliveries with exactly one execution,
            {accepted.Count(a => !byDelivery.ContainsKey(a))} accepted without one, {rejected.Count(r => byDelivery.ContainsKey(r))} rejected with one
            """;
        output.WriteLine(summary);
        Console.WriteLine(summary);

        Assert.Equal(Unique, accepted.Count);
        Assert.Equal(Forged, rejected.Count);
        Assert.True(answers.Where(a => a.Forged).All(a => a.Status == 401), "a forged delivery was accepted");
        Assert.Equal(Unique, recorded.Accepted);
        Assert.True(recorded.Rejected >= Forged, "every forged delivery is recorded as rejected");
        Assert.Equal(accepted.Order(), byDelivery.Keys.Order());
        Assert.All(byDelivery, e => Assert.Equal(1, e.Value));
    }
}
