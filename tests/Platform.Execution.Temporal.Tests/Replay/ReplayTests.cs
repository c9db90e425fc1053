using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Temporalio.Common;
using Temporalio.Exceptions;
using static Platform.Execution.Temporal.Tests.Executions;

namespace Platform.Execution.Temporal.Tests.Replay;

/// <summary>
/// <see cref="ExecutionWorkflow"/> replayed over histories built event by event: each builds the history a live
/// worker would have written for a scenario, asserts that it replays (the workflow issues exactly those commands, in
/// that order), asserts on the recorder what replay does not compare (the jobs, the cancellations, the delays, the
/// outcome), and asserts that a history differing in one command fails with
/// <see cref="WorkflowNondeterminismException"/>.
/// </summary>
public class ReplayTests
{
    private const string Enqueue = ExecutionActivities.EnqueueJobsName;
    private const string CancelJobs = ExecutionActivities.CancelJobsName;
    private const string Record = ExecutionActivities.RecordDecisionName;

    // ---- three steps in sequence ----

    internal static PinnedWorkflow ThreeSteps() => Plan(
        Step("test"),
        Step("build", "test") with { With = Json("""{"tag":"${{ steps.test.outputs.version }}","region":"${{ inputs.region }}-1"}""") },
        Step("deploy", "build"));

    internal static HistoryBuilder ThreeStepsHistory(string secondActivity = Enqueue)
    {
        var h = new HistoryBuilder(Id.ToString(), Input(ThreeSteps()));
        var test = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(test)
            .Signal(Started("test"))
            .Signal(Succeeded("test", outputs: new Dictionary<string, string> { ["version"] = "1.2.3" }))
            .WorkflowTask();
        var build = h.ScheduleActivity(secondActivity, null);
        h.Record();
        h.CompleteActivity(build).Signal(Succeeded("build")).WorkflowTask();
        var deploy = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(deploy).Signal(Succeeded("deploy")).WorkflowTask();
        h.Record();
        return h.Complete(new ExecutionOutcome("SUCCEEDED", null));
    }

    [Fact]
    public async Task Three_steps_run_one_after_another_each_enqueued_as_the_embedded_engine_builds_it()
    {
        var recorded = await Replays.ReplayAsync(ThreeStepsHistory().Build());

        Assert.Equal([Enqueue, Record, Enqueue, Record, Enqueue, Record, Record], recorded.Activities.Select(a => a.Activity));
        var jobs = recorded.Enqueued.Select(call => Assert.Single(call)).ToList();
        Assert.Equal(["test", "build", "deploy"], jobs.Select(j => j.StepName));
        Assert.Equal([ExecutionEngine.JobId(Id, "test", 1), ExecutionEngine.JobId(Id, "build", 1), ExecutionEngine.JobId(Id, "deploy", 1)],
            jobs.Select(j => j.JobId));
        Assert.All(jobs, j => Assert.Equal((Id, 1), (j.ExecutionId, j.StepAttempt)));
        Assert.Equal(["run", "build"], jobs[1].Command);
        Assert.Equal("registry.local/build:1", jobs[1].Image);
        Assert.Equal("build", jobs[1].Env["STAGE"]);
        Assert.Equal(["linux"], jobs[1].RunnerLabels);
        Assert.Equal(InputJson, jobs[0].InputJson);
        // `with` rendered against the input and the outputs of the step before it.
        Assert.Equal("""{"version":"1.2","tag":"1.2.3","region":"eu-1"}""", jobs[1].InputJson);
        Assert.Equal(new ExecutionOutcome("SUCCEEDED", null), recorded.Outcome);
        Assert.Empty(recorded.Timers);

        // The read model gets each workflow task's new entries once, in order, with the status after them.
        Assert.Equal([[1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]],
            recorded.Decisions.Select(d => d.Entries.Select(e => e.Sequence).ToArray()));
        Assert.Equal(["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"], recorded.Decisions.Select(d => d.Status));
        Assert.Equal(ThreeSteps().Name, recorded.Decisions[0].Plan?.Name);
        Assert.Equal(InputJson, recorded.Decisions[0].InputJson);
        Assert.Equal(HistoryCodec.ExecutionFinishedType, recorded.Decisions[^1].Entries[^1].Type);
    }

    [Fact]
    public async Task Three_steps_history_with_another_activity_in_place_of_an_enqueue_is_nondeterministic()
    {
        await AssertNondeterministicAsync(ThreeStepsHistory(CancelJobs), "Activity type of scheduled event 'CancelJobs' does not match");
    }

    [Fact]
    public async Task Three_steps_history_that_completes_before_the_last_step_is_nondeterministic()
    {
        var h = new HistoryBuilder(Id.ToString(), Input(ThreeSteps()));
        var test = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(test).Signal(Succeeded("test")).WorkflowTask();
        var build = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(build).Signal(Succeeded("build")).WorkflowTask();
        h.Record();
        h.Complete(new ExecutionOutcome("SUCCEEDED", null));

        await AssertNondeterministicAsync(h, "Nondeterminism");
    }

    // ---- a failed attempt retried after a durable (jittered) backoff timer ----

    private static PinnedWorkflow Flaky() => Plan(Step("flaky") with { Retry = Retry(3, 1000, 10_000, jitter: true) });

    private static HistoryBuilder FlakyHistory(bool withTimer = true)
    {
        var h = new HistoryBuilder(Id.ToString(), Input(Flaky()));
        var first = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(first).Signal(Failed("flaky", 1, exitCode: 3)).WorkflowTask();
        if (withTimer)
        {
            var backoff = h.StartTimer(TimeSpan.FromMilliseconds(750));
            h.Record();
            h.FireTimer(backoff).WorkflowTask();
        }

        var second = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(second).Signal(Succeeded("flaky", 2)).WorkflowTask();
        h.Record();
        return h.Complete(new ExecutionOutcome("SUCCEEDED", null));
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_after_a_jittered_durable_timer()
    {
        var history = FlakyHistory().Build();
        var recorded = await Replays.ReplayAsync(history);

        Assert.Equal([ExecutionEngine.JobId(Id, "flaky", 1), ExecutionEngine.JobId(Id, "flaky", 2)],
            recorded.Enqueued.Select(call => Assert.Single(call).JobId));
        var (delay, summary) = Assert.Single(recorded.Timers);
        Assert.Equal("retry:flaky:2", summary);
        Assert.InRange(delay, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1000));
        Assert.Equal(new ExecutionOutcome("SUCCEEDED", null), recorded.Outcome);

        // Workflow.Random replays the same numbers (seeded from the run): the same delay on every replay of the run.
        var again = await Replays.ReplayAsync(history);
        Assert.Equal(delay, Assert.Single(again.Timers).Delay);
    }

    [Fact]
    public async Task The_jittered_delay_is_the_one_recorded_in_TimerScheduled()
    {
        // A run that continues as new right after scheduling the backoff hands over its core events: their
        // TIMER_SCHEDULED must carry the delay of the durable timer.
        var h = new HistoryBuilder(Id.ToString(), Input(Flaky()) with { ContinueAsNewAfterEvents = 8 });
        var first = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(first).Signal(Failed("flaky", 1, exitCode: 3)).WorkflowTask();
        h.StartTimer(TimeSpan.FromMilliseconds(750));
        h.Record();
        h.RecordsComplete().WorkflowTask();

        var recorded = await Replays.ReplayAsync(h.Build());

        var carry = Assert.IsType<ExecutionCarry>(recorded.ContinuedWith?.Carry);
        var scheduled = Assert.Single(carry.History, e => e.Type == HistoryCodec.TimerScheduledType);
        Assert.Equal("retry:flaky:2", (string?)scheduled.Data["timer_id"]);
        Assert.Equal(Assert.Single(recorded.Timers).Delay, TimeSpan.FromTicks((long)scheduled.Data["delay_ticks"]!));
        Assert.NotEqual(TimeSpan.FromSeconds(1), Assert.Single(recorded.Timers).Delay);
    }

    [Fact]
    public async Task A_retry_history_without_the_backoff_timer_is_nondeterministic()
    {
        await AssertNondeterministicAsync(FlakyHistory(withTimer: false), "Nondeterminism");
    }

    // ---- an attempt times out: its job is cancelled (activity), it is retried, the late result is refused ----

    private static PinnedWorkflow Slow() => Plan(
        Step("slow") with { TimeoutMs = 30_000, Retry = Retry(2, 1000, 1000) },
        Step("next", "slow"));

    private static HistoryBuilder SlowHistory(bool cancelStaleTimer = true)
    {
        var h = new HistoryBuilder(Id.ToString(), Input(Slow()));
        var first = h.ScheduleActivity(Enqueue, null);
        var timeout1 = h.StartTimer(TimeSpan.FromSeconds(30));
        h.Record();
        h.CompleteActivity(first).Signal(Started("slow", 1)).WorkflowTask();
        h.Record();
        h.FireTimer(timeout1).WorkflowTask();
        var cancel = h.ScheduleActivity(CancelJobs, null);
        var backoff = h.StartTimer(TimeSpan.FromSeconds(1));
        h.Record();
        h.CompleteActivity(cancel).Signal(Succeeded("slow", 1)).FireTimer(backoff).WorkflowTask();
        var second = h.ScheduleActivity(Enqueue, null);
        var timeout2 = h.StartTimer(TimeSpan.FromSeconds(30));
        h.Record();
        h.CompleteActivity(second).Signal(Succeeded("slow", 2)).WorkflowTask();
        if (cancelStaleTimer)
        {
            h.CancelTimer(timeout2);
        }

        var next = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(next).Signal(Succeeded("next")).WorkflowTask();
        h.Record();
        return h.Complete(new ExecutionOutcome("SUCCEEDED", null));
    }

    [Fact]
    public async Task A_timed_out_attempt_is_cancelled_on_its_runner_and_retried()
    {
        var recorded = await Replays.ReplayAsync(SlowHistory().Build());

        Assert.Equal([Enqueue, CancelJobs, Enqueue, Enqueue], recorded.JobQueueCalls);
        var cancellation = Assert.Single(Assert.Single(recorded.Cancelled));
        Assert.Equal(new JobCancellation(ExecutionEngine.JobId(Id, "slow", 1), Id, "timed out after 30s"), cancellation);
        Assert.Equal(["slow#1", "slow#2", "next#1"],
            recorded.Enqueued.Select(call => Assert.Single(call)).Select(j => $"{j.StepName}#{j.StepAttempt}"));
        Assert.Equal([("timeout:slow:1", 30.0), ("retry:slow:2", 1.0), ("timeout:slow:2", 30.0)],
            recorded.Timers.Select(t => (t.Summary, t.Delay.TotalSeconds)));
        Assert.Equal(new ExecutionOutcome("SUCCEEDED", null), recorded.Outcome);
    }

    [Fact]
    public async Task A_timeout_history_that_keeps_the_stale_timeout_timer_is_nondeterministic()
    {
        await AssertNondeterministicAsync(SlowHistory(cancelStaleTimer: false), "Nondeterminism");
    }

    // ---- a cancel: the running job is cancelled, the succeeded step compensated, the execution ends Cancelled ----

    private static PinnedWorkflow Compensable() => Plan(
        Step("prepare") with { Compensation = new PinnedCompensation(Agent("unprepare"), Json("""{"undo":"${{ steps.prepare.outputs.env }}"}""")) },
        Step("build", "prepare"));

    internal static HistoryBuilder CancelHistory(bool compensate = true)
    {
        var h = new HistoryBuilder(Id.ToString(), Input(Compensable()));
        var prepare = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(prepare).Signal(Succeeded("prepare", outputs: new Dictionary<string, string> { ["env"] = "env-7" })).WorkflowTask();
        var build = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(build).Signal(Started("build")).Signal(Cancel("stopped by alice")).WorkflowTask();
        var cancel = h.ScheduleActivity(CancelJobs, null);
        h.Record();
        h.CompleteActivity(cancel).Signal(Cancel("again")).Signal(Cancelled("build")).WorkflowTask();
        if (compensate)
        {
            var compensation = h.ScheduleActivity(Enqueue, null);
            h.Record();
            h.CompleteActivity(compensation).Signal(Compensated("prepare")).WorkflowTask();
            h.Record();
        }

        return h.Complete(new ExecutionOutcome("CANCELLED", "stopped by alice"));
    }

    [Fact]
    public async Task A_cancel_stops_the_running_job_then_compensates_the_succeeded_step()
    {
        var recorded = await Replays.ReplayAsync(CancelHistory().Build());

        Assert.Equal([Enqueue, Enqueue, CancelJobs, Enqueue], recorded.JobQueueCalls);
        Assert.Equal(["RUNNING", "RUNNING", "RUNNING", "COMPENSATING", "CANCELLED"], recorded.Decisions.Select(d => d.Status));
        Assert.Equal(new JobCancellation(ExecutionEngine.JobId(Id, "build", 1), Id, "the execution was cancelled"),
            Assert.Single(Assert.Single(recorded.Cancelled)));
        var compensation = Assert.Single(recorded.Enqueued[^1]);
        Assert.Equal(ExecutionEngine.CompensationJobId(Id, "prepare", 1), compensation.JobId);
        Assert.Equal(("prepare", 1), (compensation.StepName, compensation.StepAttempt));
        Assert.Equal(["run", "unprepare"], compensation.Command);
        Assert.Equal("""{"version":"1.2","region":"eu","undo":"env-7"}""", compensation.InputJson);
        Assert.Equal(new ExecutionOutcome("CANCELLED", "stopped by alice"), recorded.Outcome);
    }

    [Fact]
    public async Task A_cancel_history_that_finishes_without_compensating_is_nondeterministic()
    {
        await AssertNondeterministicAsync(CancelHistory(compensate: false), "Nondeterminism");
    }

    // ---- an approval step waits for its signal; the signal cancels the approval's timeout timer ----

    private static PinnedWorkflow Gated() => Plan(
        Step("build"),
        Step("approve", "build") with { Type = "approval", TimeoutMs = 3_600_000 },
        Step("deploy", "approve") with { With = Json("""{"by":"${{ steps.approve.outputs.approved_by }}"}""") });

    private static HistoryBuilder ApprovalHistory(string signalName = ExecutionWorkflow.ApprovalSignalName)
    {
        var approval = Approve("approve", new Dictionary<string, string> { ["approved_by"] = "alice" });
        var h = new HistoryBuilder(Id.ToString(), Input(Gated()));
        var build = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(build).Signal(Approve("approve", new Dictionary<string, string>())).WorkflowTask();
        h.Signal(Succeeded("build")).WorkflowTask();
        var wait = h.StartTimer(TimeSpan.FromHours(1));
        h.Record();
        h.Signal(signalName, approval.Payload).WorkflowTask();
        h.CancelTimer(wait);
        var deploy = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(deploy).Signal(Succeeded("deploy")).WorkflowTask();
        h.Record();
        return h.Complete(new ExecutionOutcome("SUCCEEDED", null));
    }

    [Fact]
    public async Task An_approval_waits_for_the_signal_named_after_it_and_its_payload_feeds_the_next_step()
    {
        var recorded = await Replays.ReplayAsync(ApprovalHistory().Build());

        Assert.Equal([("approval-timeout:approve", TimeSpan.FromHours(1))], recorded.Timers.Select(t => (t.Summary, t.Delay)));
        Assert.Equal(["build", "deploy"], recorded.Enqueued.Select(call => Assert.Single(call).StepName));
        Assert.Equal("""{"version":"1.2","region":"eu","by":"alice"}""", recorded.Enqueued[1][0].InputJson);
        Assert.Equal(new ExecutionOutcome("SUCCEEDED", null), recorded.Outcome);
    }

    [Fact]
    public async Task An_approval_history_whose_signal_has_another_name_is_nondeterministic()
    {
        // The workflow hears no approval on the Retry signal (refused: the execution has not failed): it keeps waiting
        // where the history says it cancelled the approval's timer and enqueued the next step.
        await AssertNondeterministicAsync(ApprovalHistory(ExecutionWorkflow.RetrySignalName), "Nondeterminism");
    }

    // ---- enqueueing refused for good: the attempt fails, the execution compensates and fails ----

    [Fact]
    public async Task A_job_Runner_Registry_refuses_fails_its_step_and_the_execution_compensates()
    {
        var input = Input(Compensable()) with { RetryWindow = TimeSpan.FromMinutes(1) };
        var h = new HistoryBuilder(Id.ToString(), input);
        var prepare = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(prepare).Signal(Succeeded("prepare")).WorkflowTask();
        var build = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.FailActivity(build, "Runner-Registry refused to enqueue the jobs: no runner has label gpu", ExecutionActivities.RefusedErrorType)
            .WorkflowTask();
        var compensation = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(compensation).Signal(Compensated("prepare")).WorkflowTask();
        h.Record();
        var window = h.StartTimer(TimeSpan.FromMinutes(1));
        h.FireTimer(window).WorkflowTask();
        h.Complete(new ExecutionOutcome("FAILED", "step 'build' failed: could not enqueue the job: Runner-Registry refused to enqueue the jobs: no runner has label gpu"));

        var recorded = await Replays.ReplayAsync(h.Build());

        Assert.Equal([ExecutionEngine.JobId(Id, "prepare", 1), ExecutionEngine.JobId(Id, "build", 1), ExecutionEngine.CompensationJobId(Id, "prepare", 1)],
            recorded.Enqueued.Select(call => Assert.Single(call).JobId));
        Assert.Equal("FAILED", recorded.Outcome?.Status);
        Assert.Equal("step 'build' failed: could not enqueue the job: Runner-Registry refused to enqueue the jobs: no runner has label gpu",
            recorded.Outcome?.Error);
    }

    // ---- a failed execution stays open for a retry; a redelivered retry message is applied once ----

    [Fact]
    public async Task A_failed_execution_waits_for_a_retry_and_applies_a_redelivered_retry_once()
    {
        var retry = RetryExecution();
        var h = new HistoryBuilder(Id.ToString(), Input(Plan(Step("deploy"))));
        var first = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(first).Signal(Failed("deploy", 1)).WorkflowTask();
        h.Record();
        var window1 = h.StartTimer(ExecutionWorkflow.DefaultRetryWindow);
        h.Signal(retry).WorkflowTask();
        h.CancelTimer(window1);
        var second = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(second).Signal(Failed("deploy", 2)).WorkflowTask();
        h.Record();
        var window2 = h.StartTimer(ExecutionWorkflow.DefaultRetryWindow);
        h.Signal(retry).WorkflowTask(); // the same message again: not a second retry
        h.CancelTimer(window2);
        var window3 = h.StartTimer(ExecutionWorkflow.DefaultRetryWindow);
        h.FireTimer(window3).WorkflowTask();
        h.Complete(new ExecutionOutcome("FAILED", "step 'deploy' failed: exit code 1"));

        var recorded = await Replays.ReplayAsync(h.Build());

        Assert.Equal(["deploy#1", "deploy#2"], recorded.Enqueued.Select(call => Assert.Single(call)).Select(j => $"{j.StepName}#{j.StepAttempt}"));
        Assert.Equal(3, recorded.Timers.Count);
        Assert.Equal(ExecutionWorkflow.DefaultRetryWindow, recorded.Timers[1].Delay);
        Assert.True(recorded.Timers[2].Delay < ExecutionWorkflow.DefaultRetryWindow, "the window runs from the failure, not from the refused retry");
        Assert.Equal(new ExecutionOutcome("FAILED", "step 'deploy' failed: exit code 1"), recorded.Outcome);
    }

    // ---- continue-as-new: the next run goes on from the handed-over events and timers ----

    [Fact]
    public async Task A_long_history_continues_as_new_and_the_next_run_carries_on_with_its_timers()
    {
        var plan = ThreeSteps() with { TimeoutMs = 3_600_000 };
        var start = new DateTime(2026, 1, 5, 9, 0, 0, DateTimeKind.Utc);
        var h = new HistoryBuilder(Id.ToString(), Input(plan) with { ContinueAsNewAfterEvents = 10 }, start);
        var test = h.ScheduleActivity(Enqueue, null);
        h.StartTimer(TimeSpan.FromHours(1));
        h.Record();
        h.CompleteActivity(test).Signal(Succeeded("test", outputs: new Dictionary<string, string> { ["version"] = "9" })).WorkflowTask();
        var build = h.ScheduleActivity(Enqueue, null);
        h.Record();
        h.CompleteActivity(build).WorkflowTask();

        // The recorder tells what the run handed over; the history ends with the continue-as-new it asked for.
        var first = await Replays.ReplayAsync(h.Build());
        var next = Assert.IsType<ExecutionWorkflowInput>(first.ContinuedWith);
        await Replays.ReplayAsync(h.ContinueAsNew(next).Build());

        var carry = Assert.IsType<ExecutionCarry>(next.Carry);
        Assert.Equal(["EXECUTION_STARTED", "TIMER_SCHEDULED", "STEP_DISPATCHED", "STEP_STARTED", "STEP_SUCCEEDED", "STEP_DISPATCHED"], carry.History.Select(e => e.Type));
        Assert.Equal("execution-timeout", Assert.Single(carry.Timers).TimerId);
        Assert.Equal((1, 1, 1), (carry.Received, carry.Handled, carry.Admitted));
        Assert.Single(carry.SeenMessages);

        var h2 = new HistoryBuilder(Id.ToString(), next, start.AddMinutes(10));
        var timeout = h2.StartTimer(TimeSpan.FromMinutes(50));
        h2.Signal(Succeeded("build")).WorkflowTask();
        var deploy = h2.ScheduleActivity(Enqueue, null);
        h2.Record();
        h2.CompleteActivity(deploy).Signal(Succeeded("deploy")).WorkflowTask();
        h2.CancelTimer(timeout).Record().Complete(new ExecutionOutcome("SUCCEEDED", null));

        var second = await Replays.ReplayAsync(h2.Build());

        var (left, summary) = Assert.Single(second.Timers);
        Assert.Equal("execution-timeout", summary);
        Assert.InRange(left, TimeSpan.FromMinutes(49), TimeSpan.FromMinutes(51));
        Assert.Equal("deploy", Assert.Single(Assert.Single(second.Enqueued)).StepName);
        Assert.Equal(new ExecutionOutcome("SUCCEEDED", null), second.Outcome);
    }

    // ---- helpers ----

    private static async Task AssertNondeterministicAsync(HistoryBuilder history, string fragment)
    {
        var e = await Assert.ThrowsAsync<WorkflowNondeterminismException>(() => Replays.ReplayAsync(history.Build()));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }
}
