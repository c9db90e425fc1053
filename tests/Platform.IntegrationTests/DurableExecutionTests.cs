using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>Retries, timeouts, cancel, compensation, approvals and idempotent starts, end to end on the Standalone host.</summary>
public sealed class DurableExecutionTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private StandalonePlatform Platform => fixture.Platform;
    private readonly string team = "durable-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string scratch = Directory.CreateTempSubdirectory("platform-test-").FullName;

    [Fact]
    public async Task A_failed_attempt_is_retried_after_its_backoff_and_the_step_succeeds()
    {
        // Fails the first time (no marker yet), succeeds the second.
        await Agent("flaky", ["sh", "-c", "if [ -f \"$M\" ]; then echo second; else touch \"$M\"; echo first; exit 1; fi"], Marker("flaky"));
        var workflow = await Import("""
            name: Retry
            steps:
              - name: flaky
                agent: flaky
                retry:
                  max_attempts: 3
                  backoff: { initial: 200ms, max: 1s, jitter: false }
            """);

        var execution = await StartAndWait(workflow);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal(2, (int)StandalonePlatform.Step(execution, "flaky")["attempt"]!);
        var types = await HistoryTypes((string)execution["id"]!);
        Assert.Equal(
            ["EXECUTION_STARTED", "STEP_DISPATCHED", "STEP_STARTED", "STEP_FAILED", "TIMER_SCHEDULED", "TIMER_FIRED",
             "STEP_DISPATCHED", "STEP_STARTED", "STEP_SUCCEEDED", "EXECUTION_FINISHED"],
            types);
    }

    [Fact]
    public async Task A_non_retryable_exit_code_fails_the_step_at_once()
    {
        await Agent("fatal", ["sh", "-c", "exit 3"]);
        var workflow = await Import("""
            name: Fatal
            steps:
              - name: fatal
                agent: fatal
                retry:
                  max_attempts: 5
                  backoff: { initial: 100ms }
                  non_retryable_exit_codes: [3]
            """);

        var execution = await StartAndWait(workflow);

        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)execution["status"]);
        Assert.Equal(1, (int)StandalonePlatform.Step(execution, "fatal")["attempt"]!);
    }

    [Fact]
    public async Task A_timed_out_attempt_is_killed_on_its_runner_and_fails_the_step()
    {
        var pidFile = Path.Combine(scratch, "sleeper.pid");
        await Agent("sleeper", ["sh", "-c", "echo $$ > \"$M\"; exec sleep 30"], pidFile);
        var workflow = await Import("""
            name: Timeout
            steps:
              - name: sleepy
                agent: sleeper
                timeout: 1s
            """);

        var execution = await StartAndWait(workflow);

        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)execution["status"]);
        var step = StandalonePlatform.Step(execution, "sleepy");
        Assert.Contains("timed out", (string?)step["error"], StringComparison.Ordinal);
        await AssertProcessGoneAsync(pidFile);
    }

    [Fact]
    public async Task Cancel_stops_the_running_job_on_its_runner_and_ends_the_execution_cancelled()
    {
        var pidFile = Path.Combine(scratch, "long.pid");
        await Agent("long", ["sh", "-c", "echo $$ > \"$M\"; exec sleep 30"], pidFile);
        await Agent("after", ["true"]);
        var workflow = await Import("""
            name: Cancel
            steps:
              - name: long
                agent: long
              - name: after
                agent: after
            """);
        var id = await Start(workflow);
        await Platform.WaitForStepStatusAsync(id, "long", "STEP_STATUS_RUNNING", Timeout);
        await WaitForFileAsync(pidFile);

        var cancelledAt = DateTime.UtcNow;
        await Platform.PostAsync($"/api/v1/executions/{id}:cancel", new { reason = "changed my mind" });
        var execution = await Platform.WaitForExecutionAsync(id, Timeout);

        Assert.Equal("EXECUTION_STATUS_CANCELLED", (string?)execution["status"]);
        Assert.True(DateTime.UtcNow - cancelledAt < TimeSpan.FromSeconds(5), "the cancel took effect within seconds");
        Assert.Equal("STEP_STATUS_CANCELLED", (string?)StandalonePlatform.Step(execution, "after")["status"]);
        await AssertProcessGoneAsync(pidFile);
        using var again = await Platform.Http.PostAsJsonAsync($"/api/v1/executions/{id}:cancel", new { });
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
    }

    [Fact]
    public async Task When_a_step_fails_the_compensations_of_succeeded_steps_run_in_reverse_order()
    {
        var log = Path.Combine(scratch, "compensations.log");
        await Agent("work", ["true"]);
        await Agent("undo", ["sh", "-c", "echo \"$PLATFORM_STEP\" >> \"$M\""], log);
        await Agent("broken", ["false"]);
        var workflow = await Import("""
            name: Saga
            steps:
              - name: reserve
                agent: work
                compensate: { agent: undo }
              - name: charge
                agent: work
                compensate: { agent: undo }
              - name: ship
                agent: broken
            """);

        var execution = await StartAndWait(workflow);

        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)execution["status"]);
        Assert.Equal("SUCCEEDED", (string?)StandalonePlatform.Step(execution, "charge")["compensation"]);
        Assert.Equal("SUCCEEDED", (string?)StandalonePlatform.Step(execution, "reserve")["compensation"]);
        Assert.Equal(["charge", "reserve"], await File.ReadAllLinesAsync(log));
    }

    [Fact]
    public async Task An_approval_step_waits_for_its_signal_and_the_payload_becomes_its_outputs()
    {
        await Agent("deployer", ["sh", "-c", "echo deployed=yes >> \"$PLATFORM_OUTPUTS\""]);
        var workflow = await Import("""
            name: Approval
            steps:
              - name: approve
                type: approval
              - name: deploy
                agent: deployer
            """);
        var id = await Start(workflow);
        var waiting = await Platform.WaitForStepStatusAsync(id, "approve", "STEP_STATUS_WAITING", Timeout);
        Assert.Contains("approval", (string?)StandalonePlatform.Step(waiting, "approve")["waitingFor"], StringComparison.Ordinal);

        await Platform.PostAsync($"/api/v1/executions/{id}/signals/approve", new { payload = new { approved_by = "alice" } });
        var execution = await Platform.WaitForExecutionAsync(id, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("alice", (string?)StandalonePlatform.Step(execution, "approve")["outputs"]!["approved_by"]);
        using var late = await Platform.Http.PostAsJsonAsync($"/api/v1/executions/{id}/signals/approve", new { payload = new { } });
        Assert.Equal(HttpStatusCode.BadRequest, late.StatusCode);
    }

    [Fact]
    public async Task Continue_on_failure_lets_the_rest_of_the_workflow_proceed()
    {
        await Agent("broken", ["false"]);
        await Agent("ok", ["true"]);
        var workflow = await Import("""
            name: Tolerant
            steps:
              - name: optional
                agent: broken
                continue_on_failure: true
              - name: required
                agent: ok
            """);

        var execution = await StartAndWait(workflow);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("STEP_STATUS_FAILED", (string?)StandalonePlatform.Step(execution, "optional")["status"]);
        Assert.Equal("STEP_STATUS_SUCCEEDED", (string?)StandalonePlatform.Step(execution, "required")["status"]);
    }

    [Fact]
    public async Task Retrying_a_failed_execution_reruns_only_its_failed_steps()
    {
        await Agent("ok", ["sh", "-c", "echo ran=$PLATFORM_STEP_ATTEMPT >> \"$PLATFORM_OUTPUTS\""]);
        await Agent("flaky", ["sh", "-c", "if [ -f \"$M\" ]; then exit 0; else touch \"$M\"; exit 1; fi"], Marker("retry-execution"));
        var workflow = await Import("""
            name: Retry execution
            steps:
              - name: first
                agent: ok
              - name: second
                agent: flaky
            """);
        var failed = await StartAndWait(workflow);
        Assert.Equal("EXECUTION_STATUS_FAILED", (string?)failed["status"]);

        await Platform.PostAsync($"/api/v1/executions/{failed["id"]}:retry", new { });
        var execution = await Platform.WaitForExecutionAsync((string)failed["id"]!, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal(1, (int)StandalonePlatform.Step(execution, "first")["attempt"]!);
        Assert.Equal("1", (string?)StandalonePlatform.Step(execution, "first")["outputs"]!["ran"]);
        Assert.Equal(2, (int)StandalonePlatform.Step(execution, "second")["attempt"]!);
    }

    [Fact]
    public async Task Step_inputs_render_expressions_over_the_input_and_earlier_outputs()
    {
        await Agent("versioner", ["sh", "-c", "echo version=1.2.3 >> \"$PLATFORM_OUTPUTS\""]);
        await Agent("tagger", ["sh", "-c", "echo \"input=$PLATFORM_INPUT\" >> \"$PLATFORM_OUTPUTS\""]);
        var workflow = await Import("""
            name: Data flow
            steps:
              - name: version
                agent: versioner
              - name: tag
                agent: tagger
                with:
                  tag: "${{ steps.version.outputs.version }}-${{ inputs.env }}"
                  env: "${{ inputs.env }}"
            """);

        var id = (string)(await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { input = new { env = "prod" } }))["id"]!;
        var execution = await Platform.WaitForExecutionAsync(id, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var input = JsonNode.Parse((string)StandalonePlatform.Step(execution, "tag")["outputs"]!["input"]!)!;
        Assert.Equal("1.2.3-prod", (string?)input["tag"]);
        Assert.Equal("prod", (string?)input["env"]);
    }

    [Fact]
    public async Task Watch_streams_the_events_and_log_lines_as_they_happen_and_resumes_from_a_sequence()
    {
        await Agent("pause", ["sh", "-c", "echo working on $PLATFORM_STEP; sleep 0.5"]);
        var workflow = await Import("name: Watched\nsteps:\n  - name: a\n    agent: pause\n  - name: b\n    agent: pause\n");
        var id = await Start(workflow);

        var received = new List<(DateTime At, JsonObject Update)>();
        using (var response = await Platform.Http.GetAsync($"/api/v1/executions/{id}:watch", HttpCompletionOption.ResponseHeadersRead))
        {
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!string.IsNullOrWhiteSpace(line))
                {
                    received.Add((DateTime.UtcNow, JsonNode.Parse(line)!.AsObject()));
                }
            }
        }

        var events = received.Where(r => r.Update["event"] is not null).ToList();
        var types = events.Select(r => (string)r.Update["event"]!["type"]!).ToList();
        Assert.Equal(await HistoryTypes(id), types);
        Assert.Equal("EXECUTION_FINISHED", types[^1]);
        Assert.True(events[^1].At - events[0].At > TimeSpan.FromMilliseconds(500), "events arrived as they happened, not all at the end");
        var logs = received.Where(r => r.Update["log"] is not null)
            .Select(r => ((string)r.Update["log"]!["step"]!, (string)r.Update["log"]!["text"]!)).ToList();
        Assert.Equal([("a", "working on a"), ("b", "working on b")], logs);

        using var resumed = await Platform.Http.GetAsync($"/api/v1/executions/{id}:watch?after_sequence=5");
        var rest = (await resumed.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!).Where(u => u["event"] is not null).Select(u => (string)u["event"]!["type"]!);
        Assert.Equal(types.Skip(5), rest);
    }

    [Fact]
    public async Task A_step_whose_condition_is_false_is_skipped_and_its_dependents_still_run()
    {
        await Agent("ok", ["sh", "-c", "echo flavour=plain >> \"$PLATFORM_OUTPUTS\""]);
        var workflow = await Import("""
            name: Conditional
            steps:
              - name: build
                agent: ok
              - name: publish
                agent: ok
                if: "${{ inputs.env == 'prod' && steps.build.outputs.flavour == 'plain' }}"
              - name: report
                agent: ok
            """);

        var staging = await Platform.WaitForExecutionAsync(
            (string)(await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { input = new { env = "staging" } }))["id"]!, Timeout);
        var prod = await Platform.WaitForExecutionAsync(
            (string)(await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { input = new { env = "prod" } }))["id"]!, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)staging["status"]);
        Assert.Equal("STEP_STATUS_SKIPPED", (string?)StandalonePlatform.Step(staging, "publish")["status"]);
        Assert.Equal("STEP_STATUS_SUCCEEDED", (string?)StandalonePlatform.Step(staging, "report")["status"]);
        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)prod["status"]);
        Assert.Equal("STEP_STATUS_SUCCEEDED", (string?)StandalonePlatform.Step(prod, "publish")["status"]);
    }

    [Fact]
    public async Task A_steps_log_is_stored_in_order_and_can_be_followed_while_it_runs()
    {
        await Agent("talker", ["sh", "-c", "echo first; echo warning >&2; sleep 1; echo second"]);
        var workflow = await Import("name: Logs\nsteps:\n  - name: talk\n    agent: talker\n");
        var id = await Start(workflow);

        // Follow: wait for the first line, then long-poll for what comes after it.
        JsonObject page;
        var deadline = DateTime.UtcNow + Timeout;
        do
        {
            page = await Platform.GetAsync($"/api/v1/executions/{id}/steps/talk/logs?wait_seconds=5");
        }
        while ((page["lines"]?.AsArray().Count ?? 0) == 0 && DateTime.UtcNow < deadline);
        var asked = DateTime.UtcNow;
        var next = await Platform.GetAsync(
            $"/api/v1/executions/{id}/steps/talk/logs?after_sequence={page["lines"]!.AsArray()[^1]!["sequence"]}&wait_seconds=20");
        Assert.True(DateTime.UtcNow - asked < TimeSpan.FromSeconds(10), "the follow call answered when the line came");
        Assert.NotEmpty(next["lines"]!.AsArray());

        await Platform.WaitForExecutionAsync(id, Timeout);
        var all = await Platform.GetAsync($"/api/v1/executions/{id}/steps/talk/logs");
        var lines = all["lines"]!.AsArray().Select(l => ((string)l!["stream"]!, (string)l["text"]!)).ToList();
        // Order holds within a stream; stdout and stderr are read concurrently, so they may interleave either way.
        Assert.Equal(["first", "second"], lines.Where(l => l.Item1 == "stdout").Select(l => l.Item2));
        Assert.Equal(["warning"], lines.Where(l => l.Item1 == "stderr").Select(l => l.Item2));
        Assert.True((bool?)all["complete"]);
    }

    [Fact]
    public async Task A_step_no_runner_can_take_says_why_it_waits()
    {
        await Platform.PostAsync("/api/v1/agents", new { name = "trainer", command = new[] { "true" }, runner_labels = new[] { "gpu" }, team_id = team });
        var workflow = await Import("name: Needs a GPU\nsteps:\n  - name: train\n    agent: trainer\n");
        var id = await Start(workflow);

        var waiting = await Platform.WaitForStepStatusAsync(id, "train", "STEP_STATUS_QUEUED", Timeout);
        var deadline = DateTime.UtcNow + Timeout;
        while ((string?)StandalonePlatform.Step(waiting, "train")["waitingFor"] != "no online runner with labels [gpu]" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            waiting = await Platform.GetAsync($"/api/v1/executions/{id}");
        }

        Assert.Equal("no online runner with labels [gpu]", (string?)StandalonePlatform.Step(waiting, "train")["waitingFor"]);
        Assert.Contains("train: no online runner with labels [gpu]", waiting["waitingFor"]!.AsArray().Select(w => (string)w!));
        await Platform.PostAsync($"/api/v1/executions/{id}:cancel", new { });
        Assert.Equal("EXECUTION_STATUS_CANCELLED", (string?)(await Platform.WaitForExecutionAsync(id, Timeout))["status"]);
    }

    [Fact]
    public async Task A_step_of_an_image_agent_waits_for_a_container_runner_and_says_so()
    {
        // The Standalone host's embedded runner is a process runner: an agent with an image needs docker or kubernetes.
        await Platform.PostAsync("/api/v1/agents", new { name = "containerized", image = "busybox:1", command = new[] { "true" }, team_id = team });
        var workflow = await Import("name: Needs a container\nsteps:\n  - name: pack\n    agent: containerized\n");
        var id = await Start(workflow);
        const string reason = "no online runner has executor docker or kubernetes (1 online runner has other executors)";

        var waiting = await Platform.WaitForStepStatusAsync(id, "pack", "STEP_STATUS_QUEUED", Timeout);
        var deadline = DateTime.UtcNow + Timeout;
        while ((string?)StandalonePlatform.Step(waiting, "pack")["waitingFor"] != reason && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            waiting = await Platform.GetAsync($"/api/v1/executions/{id}");
        }

        Assert.Equal(reason, (string?)StandalonePlatform.Step(waiting, "pack")["waitingFor"]);
        await Platform.PostAsync($"/api/v1/executions/{id}:cancel", new { });
        Assert.Equal("EXECUTION_STATUS_CANCELLED", (string?)(await Platform.WaitForExecutionAsync(id, Timeout))["status"]);
    }

    [Fact]
    public async Task An_image_agent_that_names_the_process_executor_runs_its_command_on_the_process_runner()
    {
        await Platform.PostAsync("/api/v1/agents", new
        {
            name = "either-way", image = "busybox:1", executor = "process", team_id = team,
            command = new[] { "sh", "-c", "echo ran=here >> \"$PLATFORM_OUTPUTS\"" },
        });
        var id = await Start(await Import("name: Process after all\nsteps:\n  - name: run\n    agent: either-way\n"));

        var finished = await Platform.WaitForExecutionAsync(id, Timeout);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)finished["status"]);
        Assert.Equal("here", (string?)StandalonePlatform.Step(finished, "run")["outputs"]!["ran"]);
    }

    [Fact]
    public async Task The_same_idempotency_key_returns_the_same_execution()
    {
        await Agent("ok", ["true"]);
        var workflow = await Import("name: Idempotent\nsteps:\n  - name: s\n    agent: ok\n");

        var first = await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { idempotency_key = "order-42" });
        var second = await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { idempotency_key = "order-42" });
        var other = await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { idempotency_key = "order-43" });

        Assert.Equal((string?)first["id"], (string?)second["id"]);
        Assert.NotEqual((string?)first["id"], (string?)other["id"]);
        var list = await Platform.GetAsync($"/api/v1/executions?workflow_id={workflow}");
        Assert.Equal(2, list["executions"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_start_can_name_an_earlier_revision()
    {
        await Agent("ok", ["true"]);
        var workflow = await Import("name: Revisions\nsteps:\n  - name: one\n    agent: ok\n");
        await Platform.PutAsync($"/api/v1/workflows/{workflow}", new
        {
            name = "Revisions",
            team_id = team,
            steps = new[] { new { name = "one", agent = "ok" }, new { name = "two", agent = "ok" } },
        });

        var execution = await Platform.WaitForExecutionAsync(
            (string)(await Platform.PostAsync($"/api/v1/workflows/{workflow}/start", new { revision = 1 }))["id"]!, Timeout);

        Assert.Equal(1, (int)execution["revision"]!);
        Assert.Single(execution["steps"]!.AsArray());
    }

    private string Marker(string name) => Path.Combine(scratch, name + ".marker");

    private async Task Agent(string name, string[] command, string? marker = null) =>
        await Platform.PostAsync("/api/v1/agents", new
        {
            name,
            command,
            team_id = team,
            env = marker is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["M"] = marker },
        });

    private async Task<string> Import(string yaml) =>
        (string)(await Platform.PostAsync("/api/v1/workflows:import", new { yaml, team_id = team }))["id"]!;

    private async Task<string> Start(string workflowId) =>
        (string)(await Platform.PostAsync($"/api/v1/workflows/{workflowId}/start", new { input = new { } }))["id"]!;

    private async Task<JsonObject> StartAndWait(string workflowId) =>
        await Platform.WaitForExecutionAsync(await Start(workflowId), Timeout);

    private async Task<List<string>> HistoryTypes(string executionId) =>
        (await Platform.GetAsync($"/api/v1/executions/{executionId}/history"))["events"]!.AsArray()
            .Select(e => (string)e!["type"]!).ToList();

    private static async Task WaitForFileAsync(string path)
    {
        for (var i = 0; i < 100 && !File.Exists(path); i++)
        {
            await Task.Delay(50);
        }
    }

    /// <summary>The job's process (its pid written to the file) is gone within a few seconds.</summary>
    private static async Task AssertProcessGoneAsync(string pidFile)
    {
        await WaitForFileAsync(pidFile);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < 60; i++)
        {
            if (!Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] == "Z")
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"process {pid} is still running");
    }

    public void Dispose() => Directory.Delete(scratch, recursive: true);
}
