using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>
/// Each context as its own process, events over a real RabbitMQ, and the runner program registering with a token:
/// the deployment shape of docker-compose, on one machine.
/// </summary>
public sealed class MultiProcessTests : IAsyncLifetime
{
    private readonly List<ServiceProcess> processes = [];
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private string definitionsRest = "", executionRest = "", registryRest = "", registryGrpc = "", database = "", broker = "";
    private int definitionsGrpcPort;

    public async Task InitializeAsync()
    {
        database = await TestDatabase.CreateAsync("multi");
        broker = await TestBroker.IsolatedUrlAsync();
        var (definitions, registry, execution) = ((Ports.Free(), Ports.Free()), (Ports.Free(), Ports.Free()), (Ports.Free(), Ports.Free()));
        definitionsRest = $"http://127.0.0.1:{definitions.Item1}";
        registryRest = $"http://127.0.0.1:{registry.Item1}";
        registryGrpc = $"http://127.0.0.1:{registry.Item2}";
        executionRest = $"http://127.0.0.1:{execution.Item1}";
        definitionsGrpcPort = definitions.Item2;

        processes.Add(ServiceProcess.Start("services/Definitions/Platform.Definitions.Host", "Platform.Definitions.Host", Settings(definitions)));
        processes.Add(ServiceProcess.Start("services/RunnerRegistry/Platform.RunnerRegistry.Host", "Platform.RunnerRegistry.Host", Settings(registry)));
        processes.Add(ServiceProcess.Start("services/Execution/Platform.Execution.Host", "Platform.Execution.Host", Settings(execution)));
        await processes[0].WaitHealthyAsync(definitionsRest + "/healthz", TimeSpan.FromSeconds(60));
        await processes[1].WaitHealthyAsync(registryRest + "/healthz", TimeSpan.FromSeconds(60));
        await processes[2].WaitHealthyAsync(executionRest + "/healthz", TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_workflow_runs_across_service_processes_with_job_events_over_RabbitMQ()
    {
        var token = (string)(await Post(registryRest + "/api/v1/runners/registration-tokens", new { labels = new[] { "linux" } }))["token"]!;
        var runner = ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner", new Dictionary<string, string>
        {
            ["PLATFORM_URL"] = registryGrpc,
            ["PLATFORM_RUNNER_TOKEN"] = token,
            ["PLATFORM_RUNNER_NAME"] = "vm-runner-1",
            ["PLATFORM_RUNNER_LABELS"] = "linux,x64",
            ["PLATFORM_RUNNER_CAPACITY"] = "2",
        });
        processes.Add(runner);
        var agent = (string)(await Post(definitionsRest + "/api/v1/agents", new
        {
            name = "hello",
            command = new[] { "sh", "-c", "echo \"greeting=hello from $PLATFORM_STEP\" >> \"$PLATFORM_OUTPUTS\"" },
            runner_labels = new[] { "linux" },
        }))["id"]!;
        var workflow = await Post(definitionsRest + "/api/v1/workflows", new
        {
            name = "Across processes",
            steps = new[] { new { name = "one", agent_id = agent }, new { name = "two", agent_id = agent } },
        });

        var started = await Post(executionRest + $"/api/v1/workflows/{workflow["id"]}/start", new { input = new { } });
        var execution = await WaitFinished((string)started["id"]!);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        Assert.Equal("hello from two", (string?)StandalonePlatform.Step(execution, "two")["outputs"]!["greeting"]);
        var runners = JsonNode.Parse(await http.GetStringAsync(registryRest + "/api/v1/runners"))!;
        var registered = Assert.Single(runners["runners"]!.AsArray())!;
        Assert.Equal("vm-runner-1", (string?)registered["name"]);
        Assert.Contains("x64", registered["labels"]!.AsArray().Select(l => (string)l!));
        Assert.Equal((string?)registered["id"], (string?)StandalonePlatform.Step(execution, "one")["runnerId"]);
    }

    [Fact]
    public async Task A_job_whose_runner_is_SIGKILLed_runs_again_on_the_other_runner_which_then_drains_and_exits()
    {
        var token = (string)(await Post(registryRest + "/api/v1/runners/registration-tokens", new { }))["token"]!;
        ServiceProcess Runner(string name) => ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner",
            new Dictionary<string, string>
            {
                ["PLATFORM_URL"] = registryGrpc,
                ["PLATFORM_RUNNER_TOKEN"] = token,
                ["PLATFORM_RUNNER_NAME"] = name,
            });
        var runners = new Dictionary<string, ServiceProcess> { ["vm-a"] = Runner("vm-a"), ["vm-b"] = Runner("vm-b") };
        processes.AddRange(runners.Values);
        // The first lease of the job hangs (its runner is killed meanwhile); the next one finishes at once.
        var agent = (string)(await Post(definitionsRest + "/api/v1/agents", new
        {
            name = "once-slow",
            command = new[] { "sh", "-c", "[ \"$PLATFORM_JOB_ATTEMPT\" = 1 ] && sleep 60; echo \"attempt=$PLATFORM_JOB_ATTEMPT\" >> \"$PLATFORM_OUTPUTS\"" },
        }))["id"]!;
        var workflow = await Post(definitionsRest + "/api/v1/workflows", new { name = "Survives a runner", steps = new[] { new { name = "work", agent_id = agent } } });
        var id = (string)(await Post(executionRest + $"/api/v1/workflows/{workflow["id"]}/start", new { }))["id"]!;
        await WaitUntil(async () => (string?)StandalonePlatform.Step(await GetExecution(id), "work")["status"] == "STEP_STATUS_RUNNING");
        var first = (string)StandalonePlatform.Step(await GetExecution(id), "work")["runnerId"]!;
        var names = await RunnerNames();
        var (killed, survivor) = names[first] == "vm-a" ? ("vm-a", "vm-b") : ("vm-b", "vm-a");

        await runners[killed].KillAsync();
        // Its lease lapses (30 s without a heartbeat): the job runs again, a new attempt, on the other runner.
        var execution = await WaitFinished(id, TimeSpan.FromSeconds(90));

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
        var step = StandalonePlatform.Step(execution, "work");
        Assert.Equal("2", (string?)step["outputs"]!["attempt"]);
        // The registry's record of who ran the job. (The step's runner_id keeps the runner that started the step
        // attempt first: the core takes one StepStarted per attempt.)
        await using (var db = new Npgsql.NpgsqlConnection(database))
        {
            await db.OpenAsync();
            await using var query = new Npgsql.NpgsqlCommand(
                "SELECT runner_id FROM runners.jobs WHERE execution_id = @id AND state = 'succeeded'", db);
            query.Parameters.AddWithValue("id", Guid.Parse(id));
            Assert.Equal(survivor, names[((Guid)(await query.ExecuteScalarAsync())!).ToString()]);
        }

        var listed = await Runners();
        Assert.Equal("RUNNER_STATE_OFFLINE", (string?)listed.Single(r => (string?)r["name"] == killed)["state"]);
        Assert.Equal("RUNNER_STATE_ONLINE", (string?)listed.Single(r => (string?)r["name"] == survivor)["state"]);

        // Drained, the surviving runner program exits cleanly; the killed one's registration is revoked.
        var survivorId = names.Single(n => n.Value == survivor).Key;
        var drained = await Post($"{registryRest}/api/v1/runners/{survivorId}:drain", new { });
        Assert.Equal("RUNNER_STATE_DRAINING", (string?)drained["state"]);
        Assert.Equal(0, await runners[survivor].WaitForExitAsync(TimeSpan.FromSeconds(30)));
        await Post($"{registryRest}/api/v1/runners/{first}:revoke", new { });
        Assert.DoesNotContain(await Runners(), r => (string?)r["name"] == killed);
    }

    private async Task<List<JsonNode>> Runners() =>
        [.. JsonNode.Parse(await http.GetStringAsync(registryRest + "/api/v1/runners"))!["runners"]!.AsArray().Select(r => r!)];

    private async Task<Dictionary<string, string>> RunnerNames() =>
        (await Runners()).ToDictionary(r => (string)r["id"]!, r => (string)r["name"]!);

    [Fact]
    public async Task The_runner_program_exits_non_zero_with_a_clear_message_when_its_token_is_refused()
    {
        var runner = ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner", new Dictionary<string, string>
        {
            ["PLATFORM_URL"] = registryGrpc,
            ["PLATFORM_RUNNER_TOKEN"] = "not-a-real-token",
            ["PLATFORM_RUNNER_NAME"] = "refused",
        });
        processes.Add(runner);

        var exitCode = await runner.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.NotEqual(0, exitCode);
        Assert.Contains("token", runner.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_job_event_lost_in_flight_is_recovered_by_the_reconciler()
    {
        var token = (string)(await Post(registryRest + "/api/v1/runners/registration-tokens", new { }))["token"]!;
        processes.Add(ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner", new Dictionary<string, string>
        {
            ["PLATFORM_URL"] = registryGrpc,
            ["PLATFORM_RUNNER_TOKEN"] = token,
            ["PLATFORM_RUNNER_NAME"] = "reconciled",
        }));
        var agent = (string)(await Post(definitionsRest + "/api/v1/agents", new { name = "pause", command = new[] { "sleep", "1" } }))["id"]!;
        var workflow = await Post(definitionsRest + "/api/v1/workflows", new
        {
            name = "Lost event",
            steps = new[] { new { name = "one", agent_id = agent }, new { name = "two", agent_id = agent } },
        });
        var id = (string)(await Post(executionRest + $"/api/v1/workflows/{workflow["id"]}/start", new { }))["id"]!;
        var execution = processes[2];
        await WaitUntil(async () => (string?)StandalonePlatform.Step(await GetExecution(id), "one")["status"] == "STEP_STATUS_RUNNING");

        // Execution goes down; the job finishes and Runner-Registry publishes JobFinished into the broker...
        await execution.KillAsync();
        await using (var db = new Npgsql.NpgsqlConnection(database))
        {
            await db.OpenAsync();
            await WaitUntil(async () => await Scalar(db, "SELECT count(*) FROM runners.jobs WHERE state = 'succeeded'") == 1
                && await Scalar(db, "SELECT count(*) FROM runners.outbox") == 0);
        }

        // ...where the event is lost: the queue is purged before anyone consumed it.
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(broker) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            Assert.True(await channel.QueuePurgeAsync("execution-job-events") >= 1, "the job's event was waiting in the queue");
        }

        execution.Launch();
        await execution.WaitHealthyAsync(executionRest + "/healthz", TimeSpan.FromSeconds(60));
        var finished = await WaitFinished(id);

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)finished["status"]);
        var history = JsonNode.Parse(await http.GetStringAsync($"{executionRest}/api/v1/executions/{id}/history"))!;
        Assert.Single(history["events"]!.AsArray(), e => (string?)e!["type"] == "STEP_SUCCEEDED" && (string?)e["step"] == "one");
    }

    [Fact]
    public async Task Two_Execution_replicas_taking_turns_at_the_job_events_decide_every_step_once()
    {
        // The broker shares one queue's job events between the replicas, so each decides some steps of every
        // execution with a cached state the other has moved past: those decisions must be refused and made again
        // from the stored history, never applied on top of a stale state.
        var (http2, grpc2) = (Ports.Free(), Ports.Free());
        var second = ServiceProcess.Start("services/Execution/Platform.Execution.Host", "Platform.Execution.Host", Settings((http2, grpc2)));
        processes.Add(second);
        await second.WaitHealthyAsync($"http://127.0.0.1:{http2}/healthz", TimeSpan.FromSeconds(60));
        var token = (string)(await Post(registryRest + "/api/v1/runners/registration-tokens", new { }))["token"]!;
        processes.Add(ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner", new Dictionary<string, string>
        {
            ["PLATFORM_URL"] = registryGrpc,
            ["PLATFORM_RUNNER_TOKEN"] = token,
            ["PLATFORM_RUNNER_NAME"] = "shared",
            ["PLATFORM_RUNNER_CAPACITY"] = "4",
        }));
        var agent = (string)(await Post(definitionsRest + "/api/v1/agents", new
        {
            name = "count",
            command = new[] { "sh", "-c", "echo \"step=$PLATFORM_STEP\" >> \"$PLATFORM_OUTPUTS\"" },
        }))["id"]!;
        var workflow = await Post(definitionsRest + "/api/v1/workflows", new
        {
            name = "Shared decisions",
            steps = new object[]
            {
                new { name = "first", agent_id = agent },
                new { name = "left", agent_id = agent, requires = new[] { "first" } },
                new { name = "middle", agent_id = agent, requires = new[] { "first" } },
                new { name = "right", agent_id = agent, requires = new[] { "first" } },
                new { name = "join", agent_id = agent, requires = new[] { "left", "middle", "right" } },
                new { name = "last", agent_id = agent, requires = new[] { "join" } },
            },
        });

        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var startOn = i % 2 == 0 ? executionRest : $"http://127.0.0.1:{http2}";
            ids.Add((string)(await Post(startOn + $"/api/v1/workflows/{workflow["id"]}/start", new { }))["id"]!);
        }

        foreach (var id in ids)
        {
            var execution = await WaitFinished(id, TimeSpan.FromSeconds(90));
            Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)execution["status"]);
            var history = JsonNode.Parse(await http.GetStringAsync($"{executionRest}/api/v1/executions/{id}/history"))!;
            var succeeded = history["events"]!.AsArray().Where(e => (string?)e!["type"] == "STEP_SUCCEEDED")
                .Select(e => (string)e!["step"]!).Order().ToList();
            Assert.Equal(["first", "join", "last", "left", "middle", "right"], succeeded);
            Assert.Equal("join", (string?)StandalonePlatform.Step(execution, "join")["outputs"]!["step"]);
        }
    }

    [Fact]
    public async Task Executions_survive_service_kills_and_a_broker_restart()
    {
        var token = (string)(await Post(registryRest + "/api/v1/runners/registration-tokens", new { }))["token"]!;
        processes.Add(ServiceProcess.Start("services/Runner/Platform.Runner.Host", "platform-runner", new Dictionary<string, string>
        {
            ["PLATFORM_URL"] = registryGrpc,
            ["PLATFORM_RUNNER_TOKEN"] = token,
            ["PLATFORM_RUNNER_NAME"] = "survivor",
            ["PLATFORM_RUNNER_CAPACITY"] = "4",
        }));
        async Task<string> Agent(string name, params string[] command) =>
            (string)(await Post(definitionsRest + "/api/v1/agents", new { name, command }))["id"]!;
        var ok = await Agent("ok", "true");
        var slow = await Agent("slow", "sleep", "0.3");
        var broken = await Agent("broken", "false");
        var undo = await Agent("undo", "true");
        var succeeding = (string)(await Post(definitionsRest + "/api/v1/workflows", new
        {
            name = "Branches",
            steps = new object[]
            {
                new { name = "a", agent_id = ok },
                new { name = "b", agent_id = slow, requires = new[] { "a" } },
                new { name = "c", agent_id = slow, requires = new[] { "a" } },
                new { name = "d", agent_id = ok, requires = new[] { "b", "c" } },
            },
        }))["id"]!;
        var failing = (string)(await Post(definitionsRest + "/api/v1/workflows", new
        {
            name = "Saga",
            steps = new object[]
            {
                new { name = "reserve", agent_id = slow, compensate = new { agent_id = undo } },
                new { name = "ship", agent_id = broken },
            },
        }))["id"]!;

        var started = new List<(string Id, string Expected)>();
        for (var i = 0; i < 30; i++)
        {
            var workflow = i % 3 == 2 ? failing : succeeding;
            var id = (string)(await Post(executionRest + $"/api/v1/workflows/{workflow}/start", new { input = new { i } }))["id"]!;
            started.Add((id, workflow == failing ? "EXECUTION_STATUS_FAILED" : "EXECUTION_STATUS_SUCCEEDED"));
            switch (i)
            {
                case 7:
                    await Restart(processes[2], executionRest); // Execution
                    break;
                case 14:
                    await RestartBrokerAsync();
                    break;
                case 21:
                    await Restart(processes[1], registryRest); // Runner-Registry
                    break;
            }
        }

        await Restart(processes[2], executionRest);
        var outcomes = new Dictionary<string, int>();
        foreach (var (id, expected) in started)
        {
            var execution = await WaitFinished(id, TimeSpan.FromSeconds(120));
            Assert.True(expected == (string?)execution["status"], $"{id}: {execution}");
            outcomes[expected] = outcomes.GetValueOrDefault(expected) + 1;
            var history = JsonNode.Parse(await http.GetStringAsync($"{executionRest}/api/v1/executions/{id}/history"))!;
            var twice = history["events"]!.AsArray()
                .Where(e => (string?)e!["type"] is "STEP_SUCCEEDED" or "STEP_FAILED")
                .GroupBy(e => ((string?)e!["step"], e["attempt"]!.ToString()))
                .Where(g => g.Count() > 1);
            Assert.Empty(twice);
        }

        Console.WriteLine("crash safety across processes: 30 executions, 3 service SIGKILLs, 1 broker restart: " +
            string.Join(", ", outcomes.Select(o => $"{o.Value} {o.Key}")));

        async Task Restart(ServiceProcess service, string rest)
        {
            await service.KillAsync();
            service.Launch();
            await service.WaitHealthyAsync(rest + "/healthz", TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>Stops and starts the local broker (rabbitmqctl, as .ci/run installs it).</summary>
    private static async Task RestartBrokerAsync()
    {
        foreach (var command in new[] { "stop_app", "start_app", "await_startup" })
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("rabbitmqctl", command)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            }) ?? throw new InvalidOperationException("this test restarts a local RabbitMQ with rabbitmqctl, which is not installed");
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"rabbitmqctl {command}: {await process.StandardError.ReadToEndAsync()}");
        }
    }

    private Dictionary<string, string> Settings((int Http, int Grpc) ports) => new()
    {
        ["ConnectionStrings__Platform"] = database,
        ["Kestrel__Endpoints__Rest__Url"] = $"http://127.0.0.1:{ports.Http}",
        ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{ports.Grpc}",
        ["Messaging__Transport"] = "rabbitmq",
        ["Messaging__RabbitMq"] = broker,
        ["Services__Definitions"] = $"http://127.0.0.1:{definitionsGrpcPort}",
        ["Services__RunnerRegistry"] = registryGrpc,
    };

    private static async Task<long> Scalar(Npgsql.NpgsqlConnection db, string sql)
    {
        await using var command = new Npgsql.NpgsqlCommand(sql, db);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<JsonObject> GetExecution(string id) =>
        JsonNode.Parse(await http.GetStringAsync($"{executionRest}/api/v1/executions/{id}"))!.AsObject();

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the condition did not hold within 30 s");
            }

            await Task.Delay(50);
        }
    }

    private async Task<JsonObject> Post(string url, object body)
    {
        using var response = await http.PostAsJsonAsync(url, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {url}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private async Task<JsonObject> WaitFinished(string id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        JsonObject execution;
        do
        {
            execution = JsonNode.Parse(await http.GetStringAsync($"{executionRest}/api/v1/executions/{id}"))!.AsObject();
            if ((string?)execution["status"] is "EXECUTION_STATUS_SUCCEEDED" or "EXECUTION_STATUS_FAILED")
            {
                return execution;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"{execution}\n{string.Join("\n---\n", processes.Select(p => p.Output))}");
    }

    public async Task DisposeAsync()
    {
        foreach (var process in processes)
        {
            await process.DisposeAsync();
        }

        http.Dispose();
        await TestBroker.DeleteIsolatedAsync(broker);
        await TestDatabase.DropAsync(database);
    }
}
