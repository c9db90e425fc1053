using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class RetryTests
{
    [Fact]
    public void Failed_attempt_with_attempts_left_is_retrying_with_a_backoff_timer()
    {
        var host = new InMemoryExecutionHost().Start(Step("build") with { Retry = Retry(3, initialSeconds: 1) });
        host.TakeCommands();

        host.Fail("build", exitCode: 1);

        Assert.Equal([new StartTimer("retry:build:2", Seconds(1), false)], host.TakeCommands());
        var build = host.State.FindStep("build")!;
        Assert.Equal(StepStatus.Retrying, build.Status);
        Assert.Equal(1, build.Attempt);
        Assert.Equal("exit code 1", build.Error);
        Assert.Equal(1, build.ExitCode);
        Assert.False(build.IsTerminal);
        Assert.Equal(new TimerState(TimerPurpose.Retry, Seconds(1), "build", 2), host.ActiveTimers["retry:build:2"]);
        Assert.Equal(ExecutionStatus.Running, host.State.Status);
    }

    [Fact]
    public void Retry_timer_firing_dispatches_the_next_attempt()
    {
        var host = new InMemoryExecutionHost().Start(Step("build") with { Retry = Retry(3) });
        host.Fail("build");
        host.TakeCommands();

        Assert.True(host.FireTimer("retry:build:2"));

        Assert.Equal([new DispatchStep("build", 2)], host.TakeCommands());
        var build = host.State.FindStep("build")!;
        Assert.Equal(StepStatus.Dispatched, build.Status);
        Assert.Equal(2, build.Attempt);
        Assert.Null(build.Error);
        Assert.Empty(host.ActiveTimers);
    }

    [Fact]
    public void Retrying_step_keeps_the_execution_running_until_its_retry_ends()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(2) }, Step("b"));
        host.Succeed("b");
        host.Fail("a");

        Assert.Equal(ExecutionStatus.Running, host.State.Status);
        Assert.Empty(Decider.Decide(host.State));

        host.FireTimer("retry:a:2");
        host.Succeed("a");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Fact]
    public void Backoff_delays_grow_by_the_multiplier_and_are_capped_at_max()
    {
        var host = new InMemoryExecutionHost().Start(Step("flaky") with { Retry = Retry(5, initialSeconds: 1, maxSeconds: 4, multiplier: 2) });

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            host.Fail("flaky");
            host.FireTimer(TimerIds.Retry("flaky", attempt + 1));
        }

        Assert.Equal(
            [Seconds(1), Seconds(2), Seconds(4), Seconds(4)],
            host.History.OfType<TimerScheduled>().Select(t => t.Delay));
        Assert.Equal(5, host.State.FindStep("flaky")!.Attempt);
        host.Succeed("flaky");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Theory]
    [InlineData(1, 1000)]
    [InlineData(2, 1500)]
    [InlineData(3, 2250)]
    [InlineData(4, 3000)]
    [InlineData(1000, 3000)]
    [InlineData(0, 1000)]
    public void Delay_is_initial_times_multiplier_to_the_failed_attempts_capped_at_max(int failedAttempt, int expectedMilliseconds)
    {
        var policy = new RetryPolicy(10, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), 1.5, false, []);

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), policy.DelayAfter(failedAttempt));
    }

    [Fact]
    public void Delay_never_exceeds_max_even_when_initial_does_or_the_product_overflows()
    {
        var policy = new RetryPolicy(3, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1), 2, false, []);

        Assert.Equal(TimeSpan.FromMinutes(1), policy.DelayAfter(1));
        Assert.Equal(TimeSpan.MaxValue, new RetryPolicy(3, TimeSpan.FromSeconds(1), TimeSpan.MaxValue, 1e300, false, []).DelayAfter(3));
    }

    [Fact]
    public void Exit_code_listed_as_non_retryable_fails_the_step_at_once()
    {
        var host = new InMemoryExecutionHost().Start(Step("deploy") with { Retry = Retry(3, nonRetryableExitCodes: [2, 78]) });

        host.Fail("deploy", exitCode: 78);

        Assert.Equal(StepStatus.Failed, host.State.FindStep("deploy")!.Status);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'deploy' failed: exit code 78", host.State.Error);
        Assert.Empty(host.History.OfType<TimerScheduled>());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(null)]
    public void Other_exit_codes_and_failures_without_an_exit_code_are_retried(int? exitCode)
    {
        var host = new InMemoryExecutionHost().Start(Step("deploy") with { Retry = Retry(3, nonRetryableExitCodes: [2]) });

        host.Fail("deploy", exitCode: exitCode, error: "boom");

        Assert.Equal(StepStatus.Retrying, host.State.FindStep("deploy")!.Status);
    }

    [Fact]
    public void Step_out_of_attempts_fails_the_execution_with_its_last_error()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(2) }, Step("b", "a"));
        host.Fail("a", exitCode: 1);
        host.FireTimer("retry:a:2");

        host.Fail("a", exitCode: 4);

        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'a' failed: exit code 4", host.State.Error);
        Assert.Equal(["a", "a"], host.DispatchedSteps);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("b")!.Status);
    }

    [Fact]
    public void Max_attempts_of_one_means_no_retry()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(1) });

        host.Fail("a");

        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
    }

    [Fact]
    public void Jittered_delay_chosen_by_the_host_is_recorded_and_kept_in_the_timer()
    {
        var policy = Retry(3, initialSeconds: 10) with { Jitter = true };
        var host = new InMemoryExecutionHost(jitter: t => t.Delay / 2).Start(Step("a") with { Retry = policy });
        host.TakeCommands();

        host.Fail("a");

        Assert.Equal([new StartTimer("retry:a:2", Seconds(10), true)], host.TakeCommands());
        Assert.Equal(new TimerScheduled("retry:a:2", Seconds(5)), host.History[^1]);
        Assert.Equal(Seconds(5), host.ActiveTimers["retry:a:2"].Delay);
        StateAssert.Equivalent(host.State, ExecutionState.Fold(host.History));
    }

    [Fact]
    public void Failure_of_another_step_stops_pending_retries_and_their_timers_go_stale()
    {
        var host = new InMemoryExecutionHost().Start(Step("flaky") with { Retry = Retry(3) }, Step("broken"), Step("slow"));
        host.Fail("flaky", exitCode: 1);
        Assert.Contains("retry:flaky:2", host.ActiveTimers.Keys);

        host.Fail("broken", exitCode: 3);

        var flaky = host.State.FindStep("flaky")!;
        Assert.Equal(StepStatus.Failed, flaky.Status);
        Assert.Equal("exit code 1", flaky.Error);
        Assert.Empty(host.ActiveTimers);
        Assert.False(host.FireTimer("retry:flaky:2"));
        Assert.Equal(ExecutionStatus.Running, host.State.Status); // waits for slow

        host.Succeed("slow");
        Assert.Equal("step 'flaky' failed: exit code 1; step 'broken' failed: exit code 3", host.State.Error);
    }

    [Fact]
    public void Attempt_failing_while_the_execution_is_already_failing_is_not_retried()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(3) }, Step("b"));
        host.Fail("b");

        host.Fail("a");

        Assert.Equal(StepStatus.Failed, host.State.FindStep("a")!.Status);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal(["a", "b"], host.DispatchedSteps);
    }

    [Fact]
    public void Retries_do_not_trigger_fail_fast_for_the_siblings()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(2) }, Step("b"), Step("c", "b"));
        host.Fail("a");

        host.Succeed("b");

        Assert.Equal(["a", "b", "c"], host.DispatchedSteps);
    }

    [Fact]
    public void Job_stopped_by_its_runner_without_a_cancel_counts_as_a_failed_attempt()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(2) });
        host.Started("a");

        Assert.True(host.Cancelled("a"));

        var a = host.State.FindStep("a")!;
        Assert.Equal(StepStatus.Retrying, a.Status);
        Assert.Equal("the job was cancelled on its runner", a.Error);
    }

    [Fact]
    public void Retry_timer_is_recorded_only_for_the_next_attempt_of_a_retrying_step()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(3) });
        var state = host.State;

        Assert.False(Decider.Admits(state, new TimerScheduled("retry:a:2", Seconds(1))));
        host.Fail("a");
        Assert.False(Decider.Admits(host.State, new TimerScheduled("retry:a:2", Seconds(1))));
        Assert.Contains("already active", Decider.RejectionReason(host.State, new TimerScheduled("retry:a:2", Seconds(1))));
        Assert.False(Decider.Admits(host.State, new TimerScheduled("retry:a:3", Seconds(1))));
    }
}
