using System.Diagnostics;
using Grpc.Core;
using Platform.Protos.Runners.V1;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>Job logs end to end: the real agent streams a job's output, the registry keeps it, readers read or follow it.</summary>
public sealed class JobLogsTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task The_agent_streams_stdout_and_stderr_lines_and_the_log_is_complete_once_the_job_ended()
    {
        var label = Unique("logs");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2"]);

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);
        var logs = await f.GetLogsAsync(jobId);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.True(logs.Complete);
        Assert.Equal(4, logs.Lines.Count);
        Assert.All(logs.Lines, l => Assert.Equal(1, l.Attempt));
        Assert.Equal(logs.Lines.Select(l => l.Sequence).Order(), logs.Lines.Select(l => l.Sequence));
        // Each stream in its order (the two pipes are read concurrently, so their interleaving is the arrival order).
        Assert.Equal(["line 1", "line 2", "line 3"], logs.Lines.Where(l => l.Stream == "stdout").Select(l => l.Text));
        Assert.Equal(["oops"], logs.Lines.Where(l => l.Stream == "stderr").Select(l => l.Text));
        // The output tail is kept as before (stdout in order; stderr's line wherever it arrived).
        Assert.Equal("line 1\nline 2\nline 3\n", job.OutputTail!.Replace("oops\n", "", StringComparison.Ordinal));
        Assert.Contains("oops\n", job.OutputTail, StringComparison.Ordinal);

        var after = await f.GetLogsAsync(jobId, logs.Lines[1].Sequence, limit: 1);
        Assert.Equal((1, logs.Lines[2].Text, false), (after.Lines.Count, after.Lines[0].Text, after.Complete));
    }

    [Fact]
    public async Task Following_a_log_answers_as_soon_as_a_line_arrives_and_when_the_job_ends()
    {
        var label = Unique("logs-follow");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo a; sleep 1; echo b"]);

        var first = await f.GetLogsAsync(jobId, waitSeconds: 20);
        Assert.Equal("a", Assert.Single(first.Lines).Text);
        Assert.False(first.Complete);

        var clock = Stopwatch.StartNew();
        var next = await f.GetLogsAsync(jobId, first.Lines[0].Sequence, waitSeconds: 20);
        Assert.Equal("b", Assert.Single(next.Lines).Text);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the follow call took {clock.Elapsed}");

        clock.Restart();
        var end = next.Complete ? next : await f.GetLogsAsync(jobId, next.Lines[0].Sequence, waitSeconds: 20);
        Assert.True(end.Complete);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the end of the job took {clock.Elapsed} to be seen");
    }

    [Fact]
    public async Task The_log_outlives_the_runner()
    {
        var label = Unique("logs-gone");
        var name = Unique("agent");
        var agent = f.StartAgent([label], name: name);
        string jobId;
        await using (agent)
        {
            jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo kept"]);
            await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);
            await agent.StopAsync();
        }

        // The runner is gone, and its registration replaced by another runner of the same name.
        await f.RegisterAsync([label], name: name);
        var logs = await f.GetLogsAsync(jobId);

        Assert.Equal(("kept", "stdout", true), (Assert.Single(logs.Lines).Text, logs.Lines[0].Stream, logs.Complete));
    }

    [Fact]
    public async Task A_retried_append_stores_nothing_twice()
    {
        var label = Unique("logs-retry");
        var runner = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        var lease = await f.AcquireAsync(runner);
        Assert.NotNull(lease);

        await f.AppendLogsAsync(runner, jobId, 1, (1, "stdout", "one"), (2, "stdout", "two"));
        await f.AppendLogsAsync(runner, jobId, 1, (1, "stdout", "one"), (2, "stdout", "two")); // retried
        await f.AppendLogsAsync(runner, jobId, 1, (2, "stdout", "two"), (3, "stderr", "three")); // overlapping

        var logs = await f.GetLogsAsync(jobId);
        Assert.Equal(["one", "two", "three"], logs.Lines.Select(l => l.Text));
        Assert.False(logs.Complete);
    }

    [Fact]
    public async Task A_line_longer_than_16_KiB_is_cut_with_a_marker()
    {
        var label = Unique("logs-long");
        var runner = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(runner));

        await f.AppendLogsAsync(runner, jobId, 1, (1, "stdout", new string('x', 20_000)));

        var text = Assert.Single((await f.GetLogsAsync(jobId)).Lines).Text;
        Assert.StartsWith(new string('x', 16 * 1024) + " [line cut", text, StringComparison.Ordinal);
        Assert.DoesNotContain("xx [", text[..(16 * 1024)], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Appends_are_refused_to_a_runner_not_holding_the_job_and_reads_of_unknown_or_malformed_jobs_fail()
    {
        var label = Unique("logs-refused");
        var holder = await f.RegisterAsync([label]);
        var other = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(holder));

        var wrongRunner = await RefusedAsync(() => f.AppendLogsAsync(other, jobId, 1, (1, "stdout", "x")));
        var wrongAttempt = await RefusedAsync(() => f.AppendLogsAsync(holder, jobId, 2, (1, "stdout", "x")));
        var badStream = await RefusedAsync(() => f.AppendLogsAsync(holder, jobId, 1, (1, "system", "x")));
        var unknownJob = await RefusedAsync(() => f.AppendLogsAsync(holder, Guid.NewGuid().ToString(), 1, (1, "stdout", "x")));
        var noCredential = await RefusedAsync(() => f.Agent.AppendJobLogsAsync(
            new AppendJobLogsRequest { JobId = jobId, Attempt = 1 }).ResponseAsync);
        var unknownRead = await RefusedAsync(() => f.GetLogsAsync(Guid.NewGuid().ToString()));
        var malformedRead = await RefusedAsync(() => f.GetLogsAsync("not-a-uuid"));
        var negativeWait = await RefusedAsync(() => f.GetLogsAsync(jobId, waitSeconds: -1));

        Assert.Equal(StatusCode.PermissionDenied, wrongRunner.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, wrongAttempt.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, badStream.StatusCode);
        Assert.Equal(StatusCode.NotFound, unknownJob.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, noCredential.StatusCode);
        Assert.Equal(StatusCode.NotFound, unknownRead.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, malformedRead.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, negativeWait.StatusCode);
        Assert.Empty((await f.GetLogsAsync(jobId)).Lines);
    }
}

/// <summary>Bounds and lapsed leases, against a registry keeping 5 lines or 1000 bytes per job, with 2-second leases.</summary>
public sealed class JobLogBoundsTests(SmallLogRegistryFixture f) : IClassFixture<SmallLogRegistryFixture>
{
    [Fact]
    public async Task Past_the_line_bound_one_marker_is_stored_and_later_lines_are_dropped_without_refusing()
    {
        var label = Unique("bound-lines");
        var runner = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(runner));

        await f.AppendLogsAsync(runner, jobId, 1, Enumerable.Range(1, 8).Select(i => ((long)i, "stdout", $"l{i}")).ToArray());
        await f.AppendLogsAsync(runner, jobId, 1, (9, "stdout", "l9"), (10, "stderr", "l10")); // accepted, dropped

        var logs = await f.GetLogsAsync(jobId);
        Assert.Equal(["l1", "l2", "l3", "l4", "l5"], logs.Lines.Take(SmallLogRegistryFixture.MaxLines).Select(l => l.Text));
        var marker = logs.Lines[^1];
        Assert.Equal(SmallLogRegistryFixture.MaxLines + 1, logs.Lines.Count);
        Assert.Equal("system", marker.Stream);
        Assert.StartsWith("[log truncated: the job wrote more than 5 lines", marker.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_the_byte_bound_one_marker_is_stored()
    {
        var label = Unique("bound-bytes");
        var runner = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(runner));

        await f.AppendLogsAsync(runner, jobId, 1, (1, "stdout", new string('a', 400)), (2, "stdout", new string('b', 400)));
        await f.AppendLogsAsync(runner, jobId, 1, (3, "stdout", new string('c', 400)), (4, "stdout", "d"));

        var logs = await f.GetLogsAsync(jobId);
        Assert.Equal(["stdout", "stdout", "system"], logs.Lines.Select(l => l.Stream));
        Assert.StartsWith("[log truncated", logs.Lines[2].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_append_from_a_lapsed_lease_is_refused_and_changes_nothing()
    {
        var label = Unique("bound-lapsed");
        var runner = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(runner));
        await f.AppendLogsAsync(runner, jobId, 1, (1, "stdout", "before the lease lapsed"));

        await f.WaitForJobAsync(jobId, j => j.State == JobState.Queued); // no heartbeat: the lease lapsed
        var refused = await RefusedAsync(() => f.AppendLogsAsync(runner, jobId, 1, (2, "stdout", "too late")));

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var logs = await f.GetLogsAsync(jobId);
        Assert.Equal("before the lease lapsed", Assert.Single(logs.Lines).Text);
        Assert.False(logs.Complete);
    }
}
