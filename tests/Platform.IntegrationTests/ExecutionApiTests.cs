using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>Workflows started over REST run as real processes on the embedded runner of the Standalone host.</summary>
public sealed class ExecutionApiTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private StandalonePlatform Platform => fixture.Platform;
    private readonly string team = "team-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_sequential_workflow_runs_each_step_as_a_process_after_the_one_before()
    {
        // The step writes its input and an output; both come back through the API.
        var echo = await Agent("echo", "sh", "-c", "echo \"seen=$PLATFORM_INPUT\" >> \"$PLATFORM_OUTPUTS\"; echo running $PLATFORM_STEP");
        var workflowId = await Workflow(new
        {
            name = "Sequential " + team,
            steps = new[] { new { name = "first", agent_id = echo }, new { name = "second", agent_id = echo }, new { name = "third", agent_id = echo } },
        });

        var started = await Platform.PostAsync($"/api/v1/workflows/{workflowId}/start",
            new { input = new { environment = "production", version = "v1.2.3" } });
        Assert.False(string.IsNullOrEmpty((string?)started["id"]));
        Assert.Equal(1, (int)started["revision"]!);

        var execution = await Platform.WaitForExecutionAsync((string)started["id"]!, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var steps = execution["steps"]!.AsArray().Select(s => s!.AsObject()).ToList();
        Assert.Equal(["first", "second", "third"], steps.Select(s => (string)s["name"]!));
        foreach (var step in steps)
        {
            Assert.Equal("STEP_STATUS_SUCCEEDED", (string?)step["status"]);
            Assert.Equal(1, (int)step["attempt"]!);
            Assert.Equal(0, (int)step["exitCode"]!);
            Assert.False(string.IsNullOrEmpty((string?)step["runnerId"]));
            var seen = JsonNode.Parse((string)step["outputs"]!["seen"]!)!;
            Assert.Equal("production", (string?)seen["environment"]);
            Assert.Equal("v1.2.3", (string?)seen["version"]);
        }

        for (var i = 1; i < steps.Count; i++)
        {
            Assert.True(Time(steps[i], "startedAt") >= Time(steps[i - 1], "finishedAt"),
                $"{steps[i]["name"]} started before {steps[i - 1]["name"]} finished");
        }
    }

    [Fact]
    public async Task Parallel_members_run_at_the_same_time()
    {
        var sleeper = await Agent("sleeper", "sleep", "1");
        var workflowId = await Workflow(new
        {
            name = "Parallel " + team,
            parallel = new[] { new { name = "aws", agent_id = sleeper }, new { name = "gcp", agent_id = sleeper }, new { name = "azure", agent_id = sleeper } },
        });

        var execution = await StartAndWait(workflowId);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var steps = execution["steps"]!.AsArray().Select(s => s!.AsObject()).ToList();
        var latestStart = steps.Max(s => Time(s, "startedAt"));
        var earliestFinish = steps.Min(s => Time(s, "finishedAt"));
        Assert.True(latestStart < earliestFinish, "every member started before any member finished");
    }

    [Fact]
    public async Task Requires_is_honoured_in_a_dag()
    {
        var fast = await Agent("fast", "true");
        var slow = await Agent("slow", "sleep", "1");
        var workflowId = await Workflow(new
        {
            name = "Dag " + team,
            steps = new object[]
            {
                new { name = "Run Tests", agent_id = slow },
                new { name = "Build Docker Image", agent_id = fast, requires = Array.Empty<string>() },
                new { name = "Deploy to Production", agent_id = fast, requires = new[] { "Run Tests", "Build Docker Image" } },
            },
        });

        var execution = await StartAndWait(workflowId);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var tests = StandalonePlatform.Step(execution, "Run Tests");
        var build = StandalonePlatform.Step(execution, "Build Docker Image");
        var deploy = StandalonePlatform.Step(execution, "Deploy to Production");
        Assert.True(Time(build, "startedAt") < Time(tests, "finishedAt"), "the independent branch ran alongside the tests");
        Assert.True(Time(deploy, "startedAt") >= Time(tests, "finishedAt"));
        Assert.True(Time(deploy, "startedAt") >= Time(build, "finishedAt"));
    }

    [Fact]
    public async Task A_step_that_exits_non_zero_fails_the_execution_and_shows_its_exit_code_and_output()
    {
        var ok = await Agent("ok", "true");
        var broken = await Agent("broken", "sh", "-c", "echo compiling; echo 'error: missing semicolon' >&2; exit 3");
        var workflowId = await Workflow(new
        {
            name = "Failing " + team,
            steps = new[] { new { name = "prepare", agent_id = ok }, new { name = "compile", agent_id = broken }, new { name = "ship", agent_id = ok } },
        });

        var execution = await StartAndWait(workflowId);

        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)execution["status"]);
        Assert.Contains("compile", (string?)execution["error"], StringComparison.Ordinal);
        var compile = StandalonePlatform.Step(execution, "compile");
        Assert.Equal("STEP_STATUS_FAILED", (string?)compile["status"]);
        Assert.Equal(3, (int)compile["exitCode"]!);
        Assert.Contains("missing semicolon", (string?)compile["outputTail"], StringComparison.Ordinal);
        Assert.Contains("3", (string?)compile["error"], StringComparison.Ordinal);
        Assert.Equal("STEP_STATUS_SKIPPED", (string?)StandalonePlatform.Step(execution, "ship")["status"]);
    }

    [Fact]
    public async Task A_command_that_cannot_start_fails_its_step_with_a_clear_error()
    {
        var missing = await Agent("missing", "/no/such/program");
        var workflowId = await Workflow(new { name = "Missing " + team, steps = new[] { new { name = "run", agent_id = missing } } });

        var execution = await StartAndWait(workflowId);

        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)execution["status"]);
        Assert.Contains("/no/such/program", (string?)StandalonePlatform.Step(execution, "run")["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_history_is_ordered_and_names_every_event()
    {
        var ok = await Agent("ok", "true");
        var workflowId = await Workflow(new { name = "History " + team, steps = new[] { new { name = "a", agent_id = ok }, new { name = "b", agent_id = ok } } });
        var execution = await StartAndWait(workflowId);

        var history = await Platform.GetAsync($"/api/v1/executions/{execution["id"]}/history");

        var events = history["events"]!.AsArray().Select(e => e!.AsObject()).ToList();
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => long.Parse(e["sequence"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(
            ["EXECUTION_STARTED", "STEP_DISPATCHED", "STEP_STARTED", "STEP_SUCCEEDED", "STEP_DISPATCHED", "STEP_STARTED", "STEP_SUCCEEDED", "EXECUTION_FINISHED"],
            events.Select(e => (string)e["type"]!));
        Assert.Equal(["a", "a", "a", "b", "b", "b"], events.Where(e => !string.IsNullOrEmpty((string?)e["step"])).Select(e => (string)e["step"]!));
    }

    [Fact]
    public async Task Executions_are_listed_and_filtered_by_workflow_and_status()
    {
        var ok = await Agent("ok", "true");
        var bad = await Agent("bad", "false");
        var good = await Workflow(new { name = "Good " + team, steps = new[] { new { name = "s", agent_id = ok } } });
        var failing = await Workflow(new { name = "Bad " + team, steps = new[] { new { name = "s", agent_id = bad } } });
        var g1 = await StartAndWait(good);
        var g2 = await StartAndWait(good);
        var f1 = await StartAndWait(failing);

        var byWorkflow = await Platform.GetAsync($"/api/v1/executions?workflow_id={good}");
        Assert.Equal(new[] { (string)g2["id"]!, (string)g1["id"]! }, byWorkflow["executions"]!.AsArray().Select(e => (string)e!["id"]!));

        var failed = await Platform.GetAsync($"/api/v1/executions?workflow_id={failing}&status=EXECUTION_STATUS_FAILED");
        Assert.Equal((string)f1["id"]!, (string?)Assert.Single(failed["executions"]!.AsArray())!["id"]);
        var none = await Platform.GetAsync($"/api/v1/executions?workflow_id={good}&status=EXECUTION_STATUS_FAILED");
        Assert.Empty(none["executions"]?.AsArray() ?? []);

        var page = await Platform.GetAsync($"/api/v1/executions?workflow_id={good}&page_size=1");
        Assert.Single(page["executions"]!.AsArray());
        var next = await Platform.GetAsync($"/api/v1/executions?workflow_id={good}&page_size=1&page_token={page["nextPageToken"]}");
        Assert.Equal((string)g1["id"]!, (string?)Assert.Single(next["executions"]!.AsArray())!["id"]);
    }

    [Fact]
    public async Task An_execution_stays_pinned_to_the_revision_it_started_with()
    {
        var slow = await Agent("slow", "sleep", "1");
        var ok = await Agent("ok", "true");
        var workflowId = await Workflow(new { name = "Pinned " + team, steps = new[] { new { name = "one", agent_id = slow } } });
        var started = await Platform.PostAsync($"/api/v1/workflows/{workflowId}/start", new { });

        await Platform.PutAsync($"/api/v1/workflows/{workflowId}", new
        {
            name = "Pinned " + team,
            steps = new[] { new { name = "one", agent_id = ok }, new { name = "two", agent_id = ok } },
            team_id = team,
        });
        var execution = await Platform.WaitForExecutionAsync((string)started["id"]!, Timeout);

        Assert.Equal(1, (int)execution["revision"]!);
        Assert.Single(execution["steps"]!.AsArray());
        var second = await StartAndWait(workflowId);
        Assert.Equal(2, (int)second["revision"]!);
        Assert.Equal(2, second["steps"]!.AsArray().Count);
    }

    [Fact]
    public async Task The_embedded_runner_is_listed_online_with_its_labels_and_capacity()
    {
        var runners = await Platform.GetAsync("/api/v1/runners");

        var runner = Assert.Single(runners["runners"]!.AsArray())!.AsObject();
        Assert.Equal("RUNNER_STATE_ONLINE", (string?)runner["state"]);
        Assert.True((int)runner["capacity"]! >= 1);
        Assert.Equal("process", (string?)runner["executor"]);
    }

    [Fact]
    public async Task Starting_with_a_malformed_input_is_refused_with_400()
    {
        var ok = await Agent("ok", "true");
        var workflowId = await Workflow(new { name = "Input " + team, steps = new[] { new { name = "s", agent_id = ok } } });

        using var response = await Platform.Http.PostAsync($"/api/v1/workflows/{workflowId}/start",
            new StringContent("{\"input\": [1,2]}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var list = await Platform.GetAsync($"/api/v1/executions?workflow_id={workflowId}");
        Assert.Empty(list["executions"]?.AsArray() ?? []);
    }

    private async Task<string> Agent(string name, params string[] command) =>
        (string)(await Platform.PostAsync("/api/v1/agents", new { name, command, team_id = team }))["id"]!;

    private async Task<string> Workflow(object body)
    {
        var json = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(body))!.AsObject();
        json["team_id"] = team;
        return (string)(await Platform.PostAsync("/api/v1/workflows", json))["id"]!;
    }

    private async Task<JsonObject> StartAndWait(string workflowId)
    {
        var started = await Platform.PostAsync($"/api/v1/workflows/{workflowId}/start", new { input = new { } });
        return await Platform.WaitForExecutionAsync((string)started["id"]!, Timeout);
    }

    private static DateTimeOffset Time(JsonObject step, string field) =>
        DateTimeOffset.Parse((string)step[field]!, System.Globalization.CultureInfo.InvariantCulture);
}
