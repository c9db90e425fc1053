using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class CoreApiTests
{
    [Theory]
    [InlineData("retry:build:2", TimerPurpose.Retry, "build", 2)]
    [InlineData("timeout:Deploy to Production:13", TimerPurpose.AttemptTimeout, "Deploy to Production", 13)]
    [InlineData("retry:a:b:c:3", TimerPurpose.Retry, "a:b:c", 3)]
    [InlineData("approval-timeout:sign off: ops", TimerPurpose.ApprovalTimeout, "sign off: ops", 0)]
    [InlineData("execution-timeout", TimerPurpose.ExecutionTimeout, null, 0)]
    public void Timer_ids_parse_into_purpose_step_and_attempt(string id, TimerPurpose purpose, string? step, int attempt)
    {
        Assert.True(TimerIds.TryParse(id, out var p, out var s, out var a));
        Assert.Equal((purpose, step, attempt), (p, s, a));
        Assert.Equal(step, TimerIds.StepOf(id));
    }

    [Fact]
    public void Timer_id_builders_round_trip()
    {
        Assert.Equal("retry:x:y:2", TimerIds.Retry("x:y", 2));
        Assert.Equal("timeout:x:1", TimerIds.AttemptTimeout("x", 1));
        Assert.Equal("approval-timeout:x", TimerIds.ApprovalTimeout("x"));
        Assert.True(TimerIds.TryParse(TimerIds.Retry("x:y", 2), out _, out var step, out var attempt));
        Assert.Equal(("x:y", 2), (step, attempt));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("retry:")]
    [InlineData("retry:a")]
    [InlineData("retry:a:")]
    [InlineData("retry::2")]
    [InlineData("retry:a:0")]
    [InlineData("retry:a:-1")]
    [InlineData("timeout:a:x")]
    [InlineData("approval-timeout:")]
    [InlineData("execution-timeout:a")]
    [InlineData("sleep:a:1")]
    public void Malformed_timer_ids_do_not_parse(string? id)
    {
        Assert.False(TimerIds.TryParse(id, out _, out _, out _));
        Assert.Null(TimerIds.StepOf(id));
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(500, "500ms")]
    [InlineData(1500, "1500ms")]
    [InlineData(30_000, "30s")]
    [InlineData(90_000, "90s")]
    [InlineData(300_000, "5m")]
    [InlineData(5_400_000, "90m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(172_800_000, "48h")]
    public void Durations_are_written_in_the_largest_exact_unit(long milliseconds, string text)
    {
        Assert.Equal(text, Durations.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Fact]
    public void Record_turns_each_new_command_into_the_event_that_records_it()
    {
        Assert.Equal(new TimerScheduled("retry:a:2", Seconds(3)), Decider.Record(new StartTimer("retry:a:2", Seconds(3), true)));
        Assert.Equal(new JobCancelRequested("a", 2), Decider.Record(new CancelJob("a", 2)));
        Assert.Equal(new ApprovalRequested("gate"), Decider.Record(new AwaitApproval("gate")));
        Assert.Equal(new CompensationDispatched("a"), Decider.Record(new DispatchCompensation("a")));
    }

    [Fact]
    public void Planned_step_defaults_to_an_agent_step_without_retry_timeout_or_compensation()
    {
        var step = new PlannedStep("a", []);

        Assert.Equal(StepKind.Agent, step.Kind);
        Assert.Null(step.Retry);
        Assert.Null(step.Timeout);
        Assert.False(step.ContinueOnFailure);
        Assert.False(step.HasCompensation);
        Assert.Null(new ExecutionPlan([]).Timeout);
    }

    [Theory]
    [InlineData("max-attempts", "max_attempts 0")]
    [InlineData("negative-backoff", "negative retry backoff")]
    [InlineData("multiplier", "multiplier")]
    [InlineData("step-timeout", "timeout that is not positive")]
    [InlineData("execution-timeout", "execution timeout must be positive")]
    [InlineData("kind", "unknown kind")]
    public void Plan_with_an_impossible_retry_or_timeout_is_refused(string kind, string reason)
    {
        var step = Step("a");
        var plan = kind switch
        {
            "max-attempts" => Of(step with { Retry = Retry(0) }),
            "negative-backoff" => Of(step with { Retry = Retry(2, initialSeconds: -1) }),
            "multiplier" => Of(step with { Retry = Retry(2, multiplier: double.NaN) }),
            "step-timeout" => Of(step with { Timeout = TimeSpan.Zero }),
            "execution-timeout" => Of(step) with { Timeout = Seconds(-1) },
            _ => Of(step with { Kind = (StepKind)7 }),
        };

        Assert.Contains(reason, Decider.RejectionReason(ExecutionState.Initial, new ExecutionStarted(plan)));
    }

    [Fact]
    public void Non_retryable_exit_codes_are_copied_from_the_plan()
    {
        var codes = new List<int> { 2 };
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = new RetryPolicy(3, Seconds(1), Seconds(1), 1, false, codes) });
        codes.Clear();

        host.Fail("a", exitCode: 2);

        Assert.Equal(StepStatus.Failed, host.State.FindStep("a")!.Status);
    }

    [Fact]
    public void Decide_is_idempotent_with_timers_approvals_and_cancels()
    {
        var plan = Of(
            Step("a") with { Timeout = Seconds(30) },
            Approval("gate") with { Timeout = Seconds(60) }) with { Timeout = Seconds(600) };
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(plan));

        var first = Decider.Decide(state);
        Assert.Equal(first, Decider.Decide(state));
        Assert.Equal(5, first.Count);
        for (var i = 0; i < first.Count; i++)
        {
            state = state.Apply(Decider.Record(first[i]));
            Assert.Equal(first.Skip(i + 1), Decider.Decide(state));
        }

        state = state.Apply(new CancelRequested(null));
        var cancel = Assert.Single(Decider.Decide(state));
        Assert.Equal(new CancelJob("a", 1), cancel);
        state = state.Apply(Decider.Record(cancel));
        Assert.Empty(Decider.Decide(state));
    }

    [Fact]
    public void Fold_of_a_history_with_timers_cancels_and_compensations_gives_the_state_the_host_built()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("a") with { HasCompensation = true, Timeout = Seconds(30) },
            Step("b") with { Retry = Retry(3) },
            Approval("gate") with { Timeout = Seconds(60) },
            Step("c", "a"));
        host.Succeed("a");
        host.Fail("b");
        host.Started("c", "r9");
        var replayedMidway = ExecutionState.Fold(host.History);
        StateAssert.Equivalent(host.State, replayedMidway);

        host.Cancel("stop");
        host.Cancelled("c");
        host.CompleteCompensation("a", ok: false, error: "x");

        StateAssert.Equivalent(host.State, ExecutionState.Fold(host.History));
        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
    }

    [Fact]
    public void Step_events_are_refused_during_compensation_and_after_the_finish()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { HasCompensation = true }, Step("b"), Step("c", "b"));
        host.Succeed("a");
        host.Fail("b");

        Assert.Equal(ExecutionStatus.Compensating, host.State.Status);
        Assert.False(Decider.Admits(host.State, new StepDispatched("c", 1)));
        Assert.False(Decider.Admits(host.State, new TimerScheduled("execution-timeout", Seconds(1))));
        Assert.False(Decider.Admits(host.State, new ApprovalRequested("c")));
    }
}
