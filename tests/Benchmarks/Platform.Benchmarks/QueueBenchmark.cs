using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Dapper;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using Platform.Protos.Runners.V1;
using Platform.Testing;
using AgentClient = Platform.Protos.Runners.V1.RunnerAgent.RunnerAgentClient;
using RegistryClient = Platform.Protos.Runners.V1.RunnerRegistry.RunnerRegistryClient;

namespace Platform.Benchmarks;

/// <summary>
/// The job queue alone: the Runner-Registry program (its own process, in-memory bus) and runners speaking its gRPC
/// protocol with no-op jobs. Dispatch latency — a job enqueued while runners wait in AcquireJob until one holds its
/// lease — with 1 and with 20 runners; and throughput through enqueue → lease → complete, next to a bare PostgreSQL
/// <c>FOR UPDATE SKIP LOCKED</c> queue driven by as many connections as there are runners.
/// </summary>
internal static class QueueBenchmark
{
    public static async Task RunAsync(int dispatchJobs, int throughputJobs, int connections)
    {
        var database = await TestDatabase.CreateAsync("bench_queue");
        var (rest, grpc) = (Ports.Free(), Ports.Free());
        await using var registry = ServiceProcess.Start("services/RunnerRegistry/Platform.RunnerRegistry.Host",
            "Platform.RunnerRegistry.Host", new Dictionary<string, string>
            {
                ["ConnectionStrings__Platform"] = database,
                ["Kestrel__Endpoints__Rest__Url"] = $"http://127.0.0.1:{rest}",
                ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
                ["Messaging__Transport"] = "inmemory",
                ["Logging__LogLevel__Platform"] = "Warning",
            });
        await registry.WaitHealthyAsync($"http://127.0.0.1:{rest}/healthz", TimeSpan.FromSeconds(60));
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        var registryClient = new RegistryClient(channel);
        var agent = new AgentClient(channel);

        foreach (var runners in new[] { 1, 20 })
        {
            var (client, server) = await DispatchAsync(registryClient, agent, database, runners, dispatchJobs);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"dispatch latency, {runners,2} runner(s) waiting, {dispatchJobs} jobs: " +
                $"enqueue call -> runner holds the lease p50 {Statistics.Percentile(client, 50):F2} ms p99 {Statistics.Percentile(client, 99):F2} ms; " +
                $"enqueued_at -> leased_at (database clock) p50 {Statistics.Percentile(server, 50):F2} ms p99 {Statistics.Percentile(server, 99):F2} ms " +
                $"(load average {LoadAverage()})"));
        }

        var loadBefore = LoadAverage();
        var platform = await PlatformThroughputAsync(registryClient, agent, throughputJobs, connections);
        var bare = await BareThroughputAsync(database, throughputJobs, connections);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            queue throughput, {throughputJobs} no-op jobs, {connections} runners / connections, enqueued in batches of 100
            (load average before / after: {loadBefore} / {LoadAverage()}; the two share the machine with whatever else runs):
              platform (gRPC enqueue -> AcquireJob, or the previous CompleteJob's next lease -> CompleteJob, events in the outbox): {platform:F0} jobs/s
              bare PostgreSQL SKIP LOCKED queue (INSERT -> UPDATE ... SKIP LOCKED -> UPDATE): {bare:F0} jobs/s
              ratio bare / platform: {bare / platform:F2}
            """));
    }

    /// <returns>Per job, the time from the start of the enqueue call to the runner holding the lease (client side) and
    /// from enqueued_at to leased_at (the database's clock), in milliseconds.</returns>
    private static async Task<(List<double> Client, List<double> Server)> DispatchAsync(RegistryClient registry, AgentClient agent,
        string database, int runners, int jobs)
    {
        var label = $"dispatch-{runners}-{Guid.NewGuid():N}"[..24];
        var leased = new ConcurrentDictionary<string, TaskCompletionSource<long>>();
        var completed = new ConcurrentDictionary<string, TaskCompletionSource>();
        using var stop = new CancellationTokenSource();
        var loops = new List<Task>();
        for (var i = 0; i < runners; i++)
        {
            var headers = await RegisterAsync(registry, agent, label, $"{label}-{i}");
            loops.Add(RunnerLoopAsync(agent, headers, lease =>
            {
                var at = Stopwatch.GetTimestamp();
                leased.GetOrAdd(lease.JobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(at);
            }, stop.Token, lease => completed.GetOrAdd(lease.JobId, _ => new()).TrySetResult()));
        }

        await Task.Delay(500); // every runner in its long poll
        var client = new List<double>();
        var ids = new List<Guid>();
        for (var i = 0; i < jobs + 20; i++)
        {
            var id = Guid.NewGuid();
            var done = leased.GetOrAdd(id.ToString(), _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
            var start = Stopwatch.GetTimestamp();
            await registry.EnqueueJobsAsync(Request(label, [id]));
            var at = await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
            if (i >= 20) // the first 20: warm-up
            {
                client.Add(Stopwatch.GetElapsedTime(start, at).TotalMilliseconds);
                ids.Add(id);
            }

            // The runner completes the job and is back in its long poll before the next job comes: what is measured is
            // dispatch to a waiting runner, not the runner's own turnaround.
            await completed.GetOrAdd(id.ToString(), _ => new()).Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(5);
        }

        await stop.CancelAsync();
        await Task.WhenAll(loops);
        await using var connection = new NpgsqlConnection(database);
        var server = (await connection.QueryAsync<double>(
            "SELECT EXTRACT(EPOCH FROM (leased_at - enqueued_at)) * 1000 FROM runners.jobs WHERE id = ANY(@ids)",
            new { ids = ids.ToArray() })).ToList();
        return (client, server);
    }

    private static async Task<double> PlatformThroughputAsync(RegistryClient registry, AgentClient agent, int jobs, int runners)
    {
        var label = $"throughput-{Guid.NewGuid():N}"[..24];
        var completed = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var loops = new List<Task>();
        for (var i = 0; i < runners; i++)
        {
            var headers = await RegisterAsync(registry, agent, label, $"{label}-{i}");
            loops.Add(RunnerLoopAsync(agent, headers, _ =>
            {
                if (Interlocked.Increment(ref completed) == jobs)
                {
                    all.TrySetResult();
                }
            }, stop.Token));
        }

        await Task.Delay(500);
        var clock = Stopwatch.StartNew();
        for (var sent = 0; sent < jobs; sent += 100)
        {
            await registry.EnqueueJobsAsync(Request(label, [.. Enumerable.Range(0, Math.Min(100, jobs - sent)).Select(_ => Guid.NewGuid())]));
        }

        await all.Task.WaitAsync(TimeSpan.FromMinutes(5));
        var seconds = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(loops);
        return jobs / seconds;
    }

    private static async Task<double> BareThroughputAsync(string database, int jobs, int connections)
    {
        await using (var setup = new NpgsqlConnection(database))
        {
            await setup.ExecuteAsync("""
                CREATE TABLE bench_queue (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued',
                                          enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp());
                CREATE INDEX bench_queue_head ON bench_queue (id) WHERE state = 'queued';
                """);
        }

        var completed = 0;
        var clock = Stopwatch.StartNew();
        var consumers = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync();
            while (Volatile.Read(ref completed) < jobs)
            {
                var id = await connection.QuerySingleOrDefaultAsync<long?>("""
                    UPDATE bench_queue SET state = 'leased'
                    WHERE id = (SELECT id FROM bench_queue WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """);
                if (id is null)
                {
                    await Task.Delay(1); // nothing queued yet: the producer is behind
                    continue;
                }

                await connection.ExecuteAsync("UPDATE bench_queue SET state = 'done' WHERE id = @id", new { id });
                Interlocked.Increment(ref completed);
            }
        })).ToList();
        await using (var producer = new NpgsqlConnection(database))
        {
            for (var sent = 0; sent < jobs; sent += 100)
            {
                await producer.ExecuteAsync("INSERT INTO bench_queue (state) SELECT 'queued' FROM generate_series(1, @n)",
                    new { n = Math.Min(100, jobs - sent) });
            }
        }

        await Task.WhenAll(consumers);
        return jobs / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The 1, 5 and 15 minute load averages (Linux), so a figure measured on a busy machine says so.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static async Task<Metadata> RegisterAsync(RegistryClient registry, AgentClient agent, string label, string name)
    {
        var token = (await registry.CreateRegistrationTokenAsync(new CreateRegistrationTokenRequest())).Token;
        var request = new RegisterRunnerRequest { RegistrationToken = token, Name = name, Capacity = 1, Version = "bench" };
        request.Labels.Add(label);
        var registered = await agent.RegisterAsync(request);
        return new Metadata { { "authorization", "Bearer " + registered.Credential } };
    }

    /// <summary>A runner that completes every job it leases at once (exit 0, no output), speaking the protocol as the
    /// runner agent does: a long poll when it has nothing to do, and each completion asking for the next job.</summary>
    private static async Task RunnerLoopAsync(AgentClient agent, Metadata headers, Action<JobLease> leased, CancellationToken stop,
        Action<JobLease>? completed = null)
    {
        JobLease? next = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var lease = next ?? (await agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 5 }, headers, cancellationToken: stop)).Job;
                next = null;
                if (lease is null)
                {
                    continue;
                }

                leased(lease);
                var answer = await agent.CompleteJobAsync(new CompleteJobRequest
                {
                    JobId = lease.JobId, Attempt = lease.Attempt, AcquireNext = !stop.IsCancellationRequested,
                }, headers, cancellationToken: CancellationToken.None);
                completed?.Invoke(lease);
                next = answer.Next;
            }
            catch (RpcException) when (stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static EnqueueJobsRequest Request(string label, IEnumerable<Guid> ids)
    {
        var request = new EnqueueJobsRequest();
        foreach (var id in ids)
        {
            var spec = new JobSpec { InputJson = "{}" };
            spec.Command.Add("true");
            spec.RunnerLabels.Add(label);
            request.Jobs.Add(new JobToEnqueue
            {
                JobId = id.ToString(), ExecutionId = Guid.NewGuid().ToString(), StepName = "noop", StepAttempt = 1, Spec = spec,
            });
        }

        return request;
    }
}
