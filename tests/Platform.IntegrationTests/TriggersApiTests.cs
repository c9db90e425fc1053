using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>Webhook, schedule and event triggers on the Standalone host, over REST and the public /hooks endpoint.</summary>
public sealed class TriggersApiTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private StandalonePlatform Platform => fixture.Platform;
    private readonly string team = "team-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_signed_webhook_starts_an_execution_with_the_body_as_input()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook", verification = "hmac-sha256" });
        Assert.Equal($"{Platform.RestUrl}/hooks/{trigger["id"]}", (string?)trigger["url"]);
        Assert.False(string.IsNullOrEmpty((string?)trigger["secret"]));

        var (status, answer) = await Webhooks.PostSignedAsync(Platform.Http, trigger, """{"ref":"refs/heads/main","commits":3}""");

        Assert.Equal(202, status);
        var delivery = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)answer["delivery_id"]!, Timeout);
        Assert.Equal("started", (string?)delivery["outcome"]);
        var execution = await Platform.WaitForExecutionAsync((string)delivery["executionId"]!, Timeout);
        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var seen = JsonNode.Parse((string)StandalonePlatform.Step(execution, "echo")["outputs"]!["seen"]!)!;
        Assert.Equal("refs/heads/main", (string?)seen["ref"]);
        Assert.Equal(3, (int)seen["commits"]!);
        // The secret is shown when created, not when read.
        Assert.Equal("", (string?)(await Platform.GetAsync($"/api/v1/triggers/{trigger["id"]}"))["secret"]);
    }

    [Fact]
    public async Task A_bad_or_missing_signature_is_401_recorded_as_rejected_and_starts_nothing()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook" });
        var url = (string)trigger["url"]!;

        var (forged, forgedAnswer) = await Webhooks.PostAsync(Platform.Http, url, "{}", ("X-Webhook-Signature", Webhooks.Hmac("guess", "{}")));
        var (unsigned, _) = await Webhooks.PostAsync(Platform.Http, url, "{}");
        // A good one afterwards: once it has started its execution, the rejected ones had every chance to.
        var (good, goodAnswer) = await Webhooks.PostSignedAsync(Platform.Http, trigger, "{}");
        await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)goodAnswer["delivery_id"]!, Timeout);

        Assert.Equal([401, 401, 202], new[] { forged, unsigned, good });
        Assert.Equal("X-Webhook-Signature does not match the body", (string?)forgedAnswer["error"]);
        var rejected = (await Platform.GetAsync($"/api/v1/triggers/{trigger["id"]}/deliveries?status=rejected"))["deliveries"]!.AsArray();
        Assert.Equal(["missing X-Webhook-Signature header", "X-Webhook-Signature does not match the body"],
            rejected.Select(d => (string?)d!["reason"]));
        Assert.All(rejected, d => Assert.Equal("", (string?)d!["executionId"]));
        Assert.Single(await Webhooks.ExecutionsOfAsync(Platform, workflowId));
    }

    [Fact]
    public async Task Copies_of_a_delivery_start_one_execution()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook" });

        var answers = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ =>
            Webhooks.PostSignedAsync(Platform.Http, trigger, """{"n":1}""", deliveryId: "delivery-1")));
        var other = await Webhooks.PostSignedAsync(Platform.Http, trigger, """{"n":2}""", deliveryId: "delivery-2");

        Assert.All(answers, a => Assert.Equal(202, a.Status));
        var deliveryId = Assert.Single(answers.Select(a => (string?)a.Answer["delivery_id"]).Distinct());
        Assert.Equal(4, answers.Count(a => (bool)a.Answer["duplicate"]!));
        var first = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, deliveryId!, Timeout);
        await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)other.Answer["delivery_id"]!, Timeout);
        Assert.Equal(4, (int)first["duplicates"]!);
        Assert.Equal(2, (await Webhooks.ExecutionsOfAsync(Platform, workflowId)).Count);
    }

    [Fact]
    public async Task The_Incident_Response_example_runs_end_to_end_from_an_Alertmanager_notification()
    {
        // The reference page's example, imported unchanged, with agents that show what they were given.
        await AgentAsync("analyzer", "sh", "-c", "echo \"alert=$(echo \"$PLATFORM_INPUT\" | sed 's/.*\"alertname\":\"\\([^\"]*\\)\".*/\\1/')\" >> \"$PLATFORM_OUTPUTS\"");
        await AgentAsync("remediator", "sh", "-c", "echo action=restarted >> \"$PLATFORM_OUTPUTS\"");
        await AgentAsync("notifier", "sh", "-c", "echo notified=oncall >> \"$PLATFORM_OUTPUTS\"");
        var yaml = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Examples", "event-driven.yaml"));
        var workflow = await Platform.PostAsync("/api/v1/workflows:import", new { yaml, team_id = team });
        var trigger = await Platform.PostAsync("/api/v1/triggers", new
        {
            workflow_id = (string)workflow["id"]!,
            type = "webhook",
            source = (string?)workflow["trigger"]!["source"],
            filter = "inputs.status == 'firing'",
            input_mapping = new
            {
                alertname = "${{ inputs.commonLabels.alertname }}",
                severity = "${{ inputs.commonLabels.severity }}",
                alerts = "${{ inputs.alerts }}",
            },
        });
        Assert.Equal("bearer", (string?)trigger["verification"]);
        var firing = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "alertmanager-firing.json"));
        var resolved = JsonNode.Parse(firing)!.AsObject();
        resolved["status"] = "resolved";
        var bearer = ("Authorization", "Bearer " + (string)trigger["secret"]!);

        var first = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, firing, bearer);
        // Alertmanager sends the group again at its repeat interval, and after a failed attempt.
        var repeat = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, firing, bearer);
        var end = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, resolved.ToJsonString(), bearer);

        Assert.Equal([202, 202, 202], new[] { first.Status, repeat.Status, end.Status });
        Assert.True((bool)repeat.Answer["duplicate"]!);
        var started = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)first.Answer["delivery_id"]!, Timeout);
        var filtered = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)end.Answer["delivery_id"]!, Timeout);
        Assert.Equal("started", (string?)started["outcome"]);
        Assert.Equal("filtered", (string?)filtered["outcome"]);
        var execution = await Platform.WaitForExecutionAsync((string)started["executionId"]!, Timeout);
        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("HighErrorRate", (string?)execution["input"]!["alertname"]);
        Assert.Equal(2, execution["input"]!["alerts"]!.AsArray().Count);
        var steps = execution["steps"]!.AsArray().Select(s => s!.AsObject()).ToList();
        Assert.Equal(["Analyze Alert", "Take Action", "Notify Team"], steps.Select(s => (string)s["name"]!));
        Assert.Equal("HighErrorRate", (string?)steps[0]["outputs"]!["alert"]);
        Assert.Equal("restarted", (string?)steps[1]["outputs"]!["action"]);
        Assert.Equal("oncall", (string?)steps[2]["outputs"]!["notified"]);
        for (var i = 1; i < steps.Count; i++)
        {
            Assert.True(Time(steps[i], "startedAt") >= Time(steps[i - 1], "finishedAt"), $"{steps[i]["name"]} started before {steps[i - 1]["name"]} finished");
        }

        Assert.Single(await Webhooks.ExecutionsOfAsync(Platform, (string)workflow["id"]!));
    }

    [Fact]
    public async Task A_schedule_with_a_short_interval_fires_and_shows_its_next_fire_times()
    {
        var workflowId = await EchoWorkflowAsync();
        var schedule = await Platform.PostAsync("/api/v1/schedules", new
        {
            workflow_id = workflowId, interval = "1s", overlap = "allow_all", input = new { origin = "schedule" },
        });
        var next = schedule["nextFireTimes"]!.AsArray().Select(t => Time((string)t!)).ToList();
        Assert.Equal(5, next.Count);
        Assert.All(next.Zip(next.Skip(1)), pair => Assert.Equal(TimeSpan.FromSeconds(1), pair.Second - pair.First));
        Assert.True(next[0] > DateTimeOffset.UtcNow.AddSeconds(-1));

        var fired = await WaitAsync(async () =>
        {
            var current = await Platform.GetAsync($"/api/v1/schedules/{schedule["id"]}?next_count=3");
            return current["recentFires"]!.AsArray().Count(f => (string?)f!["executionId"] is { Length: > 0 }) >= 2 ? current : null;
        });

        Assert.Equal(3, fired["nextFireTimes"]!.AsArray().Count);
        var fires = fired["recentFires"]!.AsArray().Select(f => f!.AsObject()).ToList();
        Assert.All(fires, f => Assert.Equal("started", (string?)f["outcome"]));
        var execution = await Platform.WaitForExecutionAsync((string)fires[^1]["executionId"]!, Timeout);
        Assert.Equal("schedule", (string?)execution["input"]!["origin"]);
        Assert.StartsWith($"schedule:{schedule["id"]}:", (string?)execution["idempotencyKey"]);

        var paused = await Platform.PostAsync($"/api/v1/schedules/{schedule["id"]}:pause", new { });
        Assert.True((bool)paused["paused"]!);
        Assert.Empty(paused["nextFireTimes"]!.AsArray());
        var firedWhilePausing = (await Platform.GetAsync($"/api/v1/schedules/{schedule["id"]}?next_count=1"))["recentFires"]!.AsArray().Count;
        await Task.Delay(2500);
        Assert.Equal(firedWhilePausing, (await Platform.GetAsync($"/api/v1/schedules/{schedule["id"]}"))["recentFires"]!.AsArray().Count);
        var resumed = await Platform.PostAsync($"/api/v1/schedules/{schedule["id"]}:resume", new { });
        Assert.Equal(5, resumed["nextFireTimes"]!.AsArray().Count);
        await Platform.DeleteAsync($"/api/v1/schedules/{schedule["id"]}");
    }

    [Fact]
    public async Task Overlap_policies_skip_buffer_or_cancel_a_slot_that_comes_while_the_previous_execution_runs()
    {
        // Each execution runs about 2.5 s; a slot comes every second.
        var sleeper = await AgentAsync("sleeper", "sleep", "2.5");
        var ids = new Dictionary<string, string>();
        foreach (var overlap in new[] { "skip", "buffer_one", "cancel_other" })
        {
            var workflow = await WorkflowAsync(new { name = $"Overlap {overlap} {team}", steps = new[] { new { name = "sleep", agent_id = sleeper } } });
            ids[overlap] = (string)(await Platform.PostAsync("/api/v1/schedules", new { workflow_id = workflow, interval = "1s", overlap }))["id"]!;
        }

        await Task.Delay(TimeSpan.FromSeconds(6));
        foreach (var id in ids.Values)
        {
            await Platform.PostAsync($"/api/v1/schedules/{id}:pause", new { });
        }

        async Task<List<JsonObject>> Fires(string overlap) =>
            (await Platform.GetAsync($"/api/v1/schedules/{ids[overlap]}"))["recentFires"]!.AsArray().Select(f => f!.AsObject()).Reverse().ToList();

        var skip = await Fires("skip");
        Assert.Equal("started", (string?)skip[0]["outcome"]);
        Assert.Contains(skip, f => (string?)f["outcome"] == "skipped");
        Assert.All(skip.Where(f => (string?)f["outcome"] == "skipped"), f => Assert.Equal("", (string?)f["executionId"]));

        // The buffered slot starts once the execution it waited for has finished.
        var buffered = await WaitAsync(async () =>
        {
            var fires = await Fires("buffer_one");
            var waiting = fires.FirstOrDefault(f => (string?)f["outcome"] is "buffered" or "started" && f != fires[0]
                && (string?)f["executionId"] is { Length: > 0 });
            return waiting is null ? null : fires;
        });
        Assert.Contains(buffered, f => (string?)f["outcome"] == "skipped");
        var first = await Platform.WaitForExecutionAsync((string)buffered[0]["executionId"]!, Timeout);
        var second = await Platform.GetAsync($"/api/v1/executions/{buffered.First(f => f != buffered[0] && (string?)f["executionId"] is { Length: > 0 })["executionId"]}");
        Assert.True(Time((string)second["createdAt"]!) >= Time((string)first["finishedAt"]!), "the buffered slot started after the running one finished");

        var cancel = await Fires("cancel_other");
        var replaced = cancel.Where(f => (string?)f["outcome"] == "cancelled_previous").ToList();
        Assert.NotEmpty(replaced);
        var cancelled = await Platform.WaitForExecutionAsync((string)cancel[0]["executionId"]!, Timeout);
        Assert.Equal("EXECUTION_STATUS_CANCELLED", (string?)cancelled["status"]);
    }

    [Fact]
    public async Task A_cron_schedule_in_a_time_zone_lists_its_slots_in_UTC()
    {
        var workflowId = await EchoWorkflowAsync();
        var schedule = await Platform.PostAsync("/api/v1/schedules", new
        {
            workflow_id = workflowId, cron = "0 9 * * 1-5", timezone = "Europe/Berlin",
            start_at = "2027-03-26T00:00:00Z", end_at = "2027-04-03T00:00:00Z",
        });

        // Friday 26 March (CET, UTC+1), then Monday 29 March onwards (CEST, UTC+2).
        Assert.Equal(["2027-03-26T08:00:00Z", "2027-03-29T07:00:00Z", "2027-03-30T07:00:00Z", "2027-03-31T07:00:00Z", "2027-04-01T07:00:00Z"],
            schedule["nextFireTimes"]!.AsArray().Select(t => (string?)t));
        var all = await Platform.GetAsync($"/api/v1/schedules/{schedule["id"]}?next_count=20");
        Assert.Equal(6, all["nextFireTimes"]!.AsArray().Count);
    }

    [Fact]
    public async Task An_event_trigger_starts_B_when_A_succeeds_with_A_outputs_as_input()
    {
        var producer = await AgentAsync("producer", "sh", "-c", "echo version=1.4.2 >> \"$PLATFORM_OUTPUTS\"");
        var a = await WorkflowAsync(new { name = "A " + team, steps = new[] { new { name = "build", agent_id = producer } } });
        var b = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = b, type = "event", source_workflow_id = a, on_status = "SUCCEEDED" });
        Assert.Equal("SUCCEEDED", (string?)trigger["onStatus"]);
        Assert.Equal("", (string?)trigger["url"]);

        var started = await Platform.PostAsync($"/api/v1/workflows/{a}/start", new { input = new { } });
        await Platform.WaitForExecutionAsync((string)started["id"]!, Timeout);
        var chained = await WaitAsync(async () => (await Webhooks.ExecutionsOfAsync(Platform, b)).SingleOrDefault());
        var execution = await Platform.WaitForExecutionAsync((string)chained["id"]!, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("1.4.2", (string?)execution["input"]!["outputs"]!["build"]!["version"]);
        Assert.Equal((string?)started["id"], (string?)execution["input"]!["execution_id"]);
        Assert.Equal($"event:{trigger["id"]}:{started["id"]}", (string?)execution["idempotencyKey"]);
    }

    [Fact]
    public async Task After_a_rotation_the_old_secret_works_for_its_grace_period_and_the_new_one_at_once()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook", verification = "github" });
        var url = (string)trigger["url"]!;
        var oldSecret = (string)trigger["secret"]!;
        async Task<int> Send(string secret) =>
            (await Webhooks.PostAsync(Platform.Http, url, "{}", ("X-Hub-Signature-256", "sha256=" + Webhooks.Hmac(secret, "{}")))).Status;
        Assert.Equal(202, await Send(oldSecret));

        var rotated = await Platform.PostAsync($"/api/v1/triggers/{trigger["id"]}:rotate-secret", new { grace_seconds = 2 });
        var newSecret = (string)rotated["secret"]!;

        Assert.NotEqual(oldSecret, newSecret);
        Assert.Equal(202, await Send(newSecret));
        Assert.Equal(202, await Send(oldSecret));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.Equal(401, await Send(oldSecret));
        Assert.Equal(202, await Send(newSecret));
    }

    [Fact]
    public async Task A_Standard_Webhooks_delivery_is_verified_and_deduplicated_by_its_webhook_id()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook", verification = "standard-webhooks" });
        var secret = (string)trigger["secret"]!;
        Assert.StartsWith("whsec_", secret);
        const string body = """{"type":"invoice.paid","data":{"id":"in_1"}}""";
        (string, string)[] Headers(string id, DateTimeOffset at)
        {
            var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var signature = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(
                Convert.FromBase64String(secret["whsec_".Length..]), System.Text.Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
            return [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", "v1," + signature)];
        }

        var first = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, body, Headers("msg_1", DateTimeOffset.UtcNow));
        var again = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, body, Headers("msg_1", DateTimeOffset.UtcNow));
        var stale = await Webhooks.PostAsync(Platform.Http, (string)trigger["url"]!, body, Headers("msg_2", DateTimeOffset.UtcNow.AddMinutes(-10)));

        Assert.Equal([202, 202, 401], new[] { first.Status, again.Status, stale.Status });
        Assert.Equal((string?)first.Answer["delivery_id"], (string?)again.Answer["delivery_id"]);
        Assert.Equal("webhook-timestamp is more than 5 minutes from now", (string?)stale.Answer["error"]);
        var delivery = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)first.Answer["delivery_id"]!, Timeout);
        Assert.Equal("id:msg_1", (string?)delivery["dedupeKey"]);
        Assert.Equal("started", (string?)delivery["outcome"]);
    }

    [Fact]
    public async Task A_delivery_can_be_replayed_and_starts_a_new_execution()
    {
        var workflowId = await EchoWorkflowAsync();
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, type = "webhook" });
        var (_, answer) = await Webhooks.PostSignedAsync(Platform.Http, trigger, """{"attempt":"original"}""", "once");
        var original = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)answer["delivery_id"]!, Timeout);

        var replay = await Platform.PostAsync($"/api/v1/triggers/{trigger["id"]}/deliveries/{original["id"]}:replay", new { });
        var replayed = await Webhooks.WaitProcessedAsync(Platform, (string)trigger["id"]!, (string)replay["id"]!, Timeout);

        Assert.Equal((string?)original["id"], (string?)replay["replayOf"]);
        Assert.Equal("started", (string?)replayed["outcome"]);
        Assert.NotEqual((string?)original["executionId"], (string?)replayed["executionId"]);
        var execution = await Platform.WaitForExecutionAsync((string)replayed["executionId"]!, Timeout);
        Assert.Equal("original", (string?)execution["input"]!["attempt"]);
    }

    [Fact]
    public async Task Invalid_schedules_and_triggers_are_400_with_field_violations_and_unknown_hooks_404()
    {
        var workflowId = await EchoWorkflowAsync();

        var schedule = await Platform.PostAsync("/api/v1/schedules", new { workflow_id = workflowId, cron = "* * *", timezone = "Nowhere/City" }, 400);
        var overlap = await Platform.PostAsync("/api/v1/schedules", new { workflow_id = workflowId, interval = "5m", overlap = "sometimes" }, 400);
        var trigger = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = workflowId, verification = "md5", filter = "inputs.a =" }, 400);
        var unknown = await Platform.PostAsync("/api/v1/triggers", new { workflow_id = Guid.NewGuid().ToString() }, 400);
        var (hook, _) = await Webhooks.PostAsync(Platform.Http, $"{Platform.RestUrl}/hooks/{Guid.NewGuid()}", "{}");

        Assert.Equal(["cron", "timezone"], Fields(schedule));
        Assert.Equal(["overlap"], Fields(overlap));
        Assert.Equal(["verification", "filter"], Fields(trigger));
        Assert.Equal(["workflow_id"], Fields(unknown));
        Assert.Equal(404, hook);
        Assert.Empty((await Platform.GetAsync($"/api/v1/schedules?workflow_id={workflowId}"))["schedules"]!.AsArray());
        Assert.Empty((await Platform.GetAsync($"/api/v1/triggers?workflow_id={workflowId}"))["triggers"]!.AsArray());
    }

    private static IEnumerable<string?> Fields(JsonObject error) =>
        error["details"]![0]!["fieldViolations"]!.AsArray().Select(v => (string?)v!["field"]);

    private async Task<string> EchoWorkflowAsync()
    {
        var echo = await AgentAsync("echo-" + Guid.NewGuid().ToString("N")[..6], "sh", "-c", "echo \"seen=$PLATFORM_INPUT\" >> \"$PLATFORM_OUTPUTS\"");
        return await WorkflowAsync(new { name = "Echo " + Guid.NewGuid().ToString("N")[..8], steps = new[] { new { name = "echo", agent_id = echo } } });
    }

    private async Task<string> AgentAsync(string name, params string[] command) =>
        (string)(await Platform.PostAsync("/api/v1/agents", new { name, command, team_id = team }))["id"]!;

    private async Task<string> WorkflowAsync(object body)
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(body))!.AsObject();
        json["team_id"] = team;
        return (string)(await Platform.PostAsync("/api/v1/workflows", json))["id"]!;
    }

    private static async Task<T> WaitAsync<T>(Func<Task<T?>> probe) where T : class
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the condition did not hold in time");
    }

    private static DateTimeOffset Time(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);

    private static DateTimeOffset Time(JsonObject step, string field) => Time((string)step[field]!);
}
