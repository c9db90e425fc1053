using System.Text.Json;
using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

/// <summary><c>if:</c> conditions: judged from the state when a step is ready; false skips it, invalid fails it.</summary>
public class ConditionTests
{
    private static readonly Dictionary<string, string> NoOutputs = [];

    private static InMemoryExecutionHost Start(string? input, params PlannedStep[] steps) =>
        new InMemoryExecutionHost().Start(new ExecutionPlan(steps), input is null ? null : Json(input));

    private static PlannedStep If(PlannedStep step, string condition) => step with { Condition = condition };

    [Theory]
    [InlineData("""{"deploy": "yes"}""", "inputs.deploy == 'yes'", true)]
    [InlineData("""{"deploy": "no"}""", "inputs.deploy == 'yes'", false)]
    [InlineData("""{"deploy": true}""", "${{ inputs.deploy }}", true)]
    [InlineData("""{"deploy": false}""", "${{ inputs.deploy }}", false)]
    [InlineData("""{"replicas": 3}""", "inputs.replicas >= 2 && inputs.replicas < 5", true)]
    [InlineData("""{"config": {"region": "eu-west-1"}}""", "inputs.config.region == 'eu-west-1'", true)]
    [InlineData("""{}""", "inputs.missing", false)]
    [InlineData(null, "inputs.deploy == null", true)]
    [InlineData(null, "inputs.deploy", false)]
    public void Condition_on_the_input_decides_whether_the_step_runs(string? input, string condition, bool runs)
    {
        var host = Start(input, If(Step("deploy"), condition));

        var commands = host.TakeCommands();
        var deploy = host.State.FindStep("deploy")!;
        if (runs)
        {
            Assert.Equal([new DispatchStep("deploy", 1)], commands);
            Assert.Equal(StepStatus.Dispatched, deploy.Status);
        }
        else
        {
            var skip = Assert.IsType<SkipStep>(Assert.Single(commands, c => c is not FinishExecution));
            Assert.Equal("deploy", skip.Step);
            Assert.Equal(StepStatus.Skipped, deploy.Status);
            Assert.Equal(0, deploy.Attempt);
            Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        }
    }

    [Fact]
    public void False_condition_records_a_skip_with_the_reason()
    {
        var host = Start("""{"env": "staging"}""", Step("build"), If(Step("deploy", "build"), "${{ inputs.env == 'prod' }}"));
        host.Succeed("build");

        var deploy = host.State.FindStep("deploy")!;
        Assert.Equal(StepStatus.Skipped, deploy.Status);
        Assert.Equal("condition is false: inputs.env == 'prod'", deploy.SkipReason);
        Assert.Null(deploy.Error);
        Assert.Empty(deploy.Outputs);
        Assert.Contains(new StepSkipped("deploy", "condition is false: inputs.env == 'prod'"), host.History);
        Assert.Equal(["build"], host.DispatchedSteps);
        Assert.Equal(new StepSkipped("deploy", "why"), Decider.Record(new SkipStep("deploy", "why")));
    }

    [Theory]
    [InlineData("yes", true)]
    [InlineData("no", false)]
    public void Condition_on_a_previous_steps_outputs_decides_whether_the_step_runs(string passed, bool runs)
    {
        var host = Start(null, Step("test"), If(Step("deploy", "test"), "steps.test.outputs.passed == 'yes'"));

        host.Succeed("test", new Dictionary<string, string> { ["passed"] = passed });

        Assert.Equal(runs ? StepStatus.Dispatched : StepStatus.Skipped, host.State.FindStep("deploy")!.Status);
        Assert.Equal(runs ? ["test", "deploy"] : ["test"], host.DispatchedSteps);
    }

    [Fact]
    public void Condition_reads_outputs_by_index_with_names_that_need_quoting()
    {
        var host = Start(null, Step("Run Tests"), If(Step("deploy", "Run Tests"), "steps['Run Tests'].outputs['image-tag'] == 'v2'"));

        host.Succeed("Run Tests", new Dictionary<string, string> { ["image-tag"] = "v2" });

        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("deploy")!.Status);
    }

    [Fact]
    public void Condition_on_a_step_that_failed_but_continued_sees_status_failed()
    {
        var host = Start(
            null,
            Step("lint") with { ContinueOnFailure = true },
            If(Step("fix", "lint"), "steps.lint.status == 'failed'"),
            If(Step("celebrate", "lint"), "steps.lint.status == 'succeeded'"));

        host.Fail("lint");

        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("fix")!.Status);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("celebrate")!.Status);
        host.Succeed("fix");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Fact]
    public void Condition_on_a_skipped_steps_status_sees_status_skipped_and_no_outputs()
    {
        var host = Start(
            null,
            If(Step("optional"), "false"),
            If(Step("fallback", "optional"), "steps.optional.status == 'skipped' && steps.optional.outputs.x == null"),
            If(Step("after-optional", "optional"), "steps.optional.status == 'succeeded'"));

        Assert.Equal(StepStatus.Skipped, host.State.FindStep("optional")!.Status);
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("fallback")!.Status);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("after-optional")!.Status);
    }

    [Fact]
    public void Dependents_of_a_skipped_step_run_and_the_execution_succeeds()
    {
        var host = Start("""{"notify": false}""", Step("build"), If(Step("notify", "build"), "inputs.notify"), Step("deploy", "notify"), Step("report", "deploy", "build"));

        host.Succeed("build");
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("notify")!.Status);
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("deploy")!.Status);
        host.Succeed("deploy");
        host.Succeed("report");

        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Null(host.State.Error);
        Assert.Equal(new FinishExecution(ExecutionStatus.Succeeded, null), host.Finish);
        Assert.Equal(["build", "deploy", "report"], host.DispatchedSteps);
    }

    [Fact]
    public void Execution_whose_every_step_is_skipped_succeeds()
    {
        var host = Start(null, If(Step("a"), "false"), If(Step("b", "a"), "${{ false }}"), If(Approval("gate", "b"), "inputs.approve"));

        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.All(host.State.Steps, s => Assert.Equal(StepStatus.Skipped, s.Status));
        Assert.Empty(host.DispatchedSteps);
        Assert.Equal(
            ["ExecutionStarted", "StepSkipped", "StepSkipped", "StepSkipped", "ExecutionFinished"],
            host.History.Select(e => e.GetType().Name));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Approval_step_with_a_condition_waits_only_when_it_is_true(bool needed)
    {
        var host = Start(needed ? """{"prod": true}""" : """{"prod": false}""", If(Approval("approve") with { Timeout = Seconds(60) }, "inputs.prod"), Step("deploy", "approve"));

        if (needed)
        {
            Assert.Equal([new AwaitApproval("approve"), new StartTimer(TimerIds.ApprovalTimeout("approve"), Seconds(60), false)], host.TakeCommands());
            Assert.Equal(StepStatus.Waiting, host.State.FindStep("approve")!.Status);
        }
        else
        {
            Assert.Equal([new SkipStep("approve", "condition is false: inputs.prod"), new DispatchStep("deploy", 1)], host.TakeCommands());
            Assert.Empty(host.ActiveTimers);
        }
    }

    [Theory]
    [InlineData("inputs.deploy ==")]
    [InlineData("steps.build.outputs.")]
    [InlineData("inputs.a == 'yes' ${{ inputs.b }}")]
    [InlineData("")]
    [InlineData("   ")]
    public void Invalid_condition_fails_the_step_without_running_it(string condition)
    {
        var host = Start(null, Step("build"), If(Step("deploy", "build") with { Retry = Retry(3) }, condition), Step("after", "deploy"));

        host.Succeed("build");

        var deploy = host.State.FindStep("deploy")!;
        Assert.Equal(StepStatus.Failed, deploy.Status);
        Assert.StartsWith("invalid condition: ", deploy.Error);
        Assert.Equal(0, deploy.Attempt);
        Assert.Null(deploy.ExitCode);
        Assert.False(deploy.ContinuedOnFailure);
        Assert.Equal(["build"], host.DispatchedSteps);
        Assert.Empty(host.ActiveTimers); // never retried
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal($"step 'deploy' failed: {deploy.Error}", host.State.Error);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("after")!.Status);
        var fail = Assert.Single(host.Commands.OfType<FailStep>());
        Assert.Equal(new FailStep("deploy", 0, deploy.Error!), fail);
        Assert.Equal(new StepFailed("deploy", 0, null, deploy.Error!), Decider.Record(fail));
    }

    [Fact]
    public void Invalid_condition_message_names_the_column()
    {
        var host = Start(null, If(Step("deploy"), "inputs.deploy == 'yes' &&"));

        Assert.Matches(@"^invalid condition: .+ \(at column \d+\)$", host.State.FindStep("deploy")!.Error);
    }

    [Fact]
    public void Invalid_condition_with_continue_on_failure_lets_the_dependents_run()
    {
        var host = Start(null, If(Step("optional") with { ContinueOnFailure = true }, "((("), Step("next", "optional"));

        var optional = host.State.FindStep("optional")!;
        Assert.Equal(StepStatus.Failed, optional.Status);
        Assert.True(optional.ContinuedOnFailure);
        Assert.Equal(["next"], host.DispatchedSteps);
        host.Succeed("next");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Fact]
    public void Invalid_condition_fails_when_the_step_is_ready_not_at_start()
    {
        var host = Start(null, Step("build"), If(Step("deploy", "build"), "=="));

        Assert.Equal(StepStatus.Pending, host.State.FindStep("deploy")!.Status);
        Assert.Equal(ExecutionStatus.Running, host.State.Status);

        host.Fail("build");

        Assert.Equal(StepStatus.Skipped, host.State.FindStep("deploy")!.Status); // never ready: the build failed
        Assert.Equal("step 'build' failed: exit code 1", host.State.Error);
    }

    [Fact]
    public void Plan_with_any_condition_string_is_admitted()
    {
        var plan = Of(If(Step("a"), "((("), If(Step("b"), ""), If(Step("c"), "inputs.x"));

        Assert.Null(Decider.RejectionReason(ExecutionState.Initial, new ExecutionStarted(plan)));
        Assert.Null(new PlannedStep("a", []).Condition);
    }

    [Fact]
    public void A_skip_decision_comes_alone_after_the_commands_of_the_steps_before_it()
    {
        var plan = Of(Step("a"), If(Step("b"), "false"), Step("c"), If(Step("d"), "true")) with { Timeout = Seconds(600) };
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(plan));

        var first = Decider.Decide(state);
        Assert.Equal([new StartTimer(TimerIds.ExecutionTimeout, Seconds(600), false), new DispatchStep("a", 1)], first);
        Assert.Equal(first, Decider.Decide(state));
        foreach (var command in first)
        {
            state = state.Apply(Decider.Record(command));
        }

        var second = Decider.Decide(state);
        Assert.Equal([new SkipStep("b", "condition is false: false")], second);
        state = state.Apply(Decider.Record(second[0]));

        Assert.Equal([new DispatchStep("c", 1), new DispatchStep("d", 1)], Decider.Decide(state));
    }

    [Fact]
    public void Conditions_that_read_each_other_are_judged_one_after_the_other()
    {
        // Not ancestors (Definitions would refuse it), but the core stays consistent: b is judged after a's skip.
        var host = Start(null, If(Step("a"), "false"), If(Step("b"), "steps.a.status == 'skipped'"), If(Step("c"), "steps.a.status == null"));

        Assert.Equal(StepStatus.Skipped, host.State.FindStep("a")!.Status);
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("b")!.Status);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("c")!.Status);
    }

    [Fact]
    public void Pending_and_unknown_steps_read_as_null_and_running_ones_by_their_status()
    {
        var host = Start(
            null,
            Step("slow"),
            Step("gate-keeper", "slow"),
            If(Step("a"), "steps['gate-keeper'].status == null && steps.nope.status == null && steps.slow.status == 'dispatched'"));

        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("a")!.Status);
    }

    [Fact]
    public void Condition_is_judged_once_per_run_not_again_for_a_retry_of_the_step()
    {
        // "a" reads "c", which is not its ancestor: the verdict would change once c succeeded.
        var host = Start(null, If(Step("a") with { Retry = Retry(2) }, "steps.c.status != 'succeeded'"), Step("c"));
        Assert.Equal(["a", "c"], host.DispatchedSteps);
        host.Succeed("c");

        host.Fail("a");
        Assert.True(host.FireTimer(TimerIds.Retry("a", 2)));

        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("a")!.Status);
        Assert.Equal(2, host.State.FindStep("a")!.Attempt);
        Assert.DoesNotContain(host.History, e => e is StepSkipped);
    }

    [Fact]
    public void Retry_of_the_execution_judges_the_conditions_again()
    {
        var host = Start(
            null,
            Step("probe") with { ContinueOnFailure = true },
            If(Step("use-probe", "probe"), "steps.probe.status == 'succeeded'"),
            Step("flaky"));
        host.Fail("probe");
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("use-probe")!.Status);
        host.Fail("flaky");
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);

        Assert.True(host.RetryExecution());
        var useProbe = host.State.FindStep("use-probe")!;
        Assert.Equal(StepStatus.Pending, useProbe.Status);
        Assert.Null(useProbe.SkipReason);
        host.Succeed("probe");
        host.Succeed("flaky");

        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("use-probe")!.Status);
        host.Succeed("use-probe");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        StateAssert.Equivalent(host.State, ExecutionState.Fold(host.History));
    }

    [Fact]
    public void External_skip_is_refused()
    {
        var host = Start(
            """{"go": true}""",
            Step("build"),
            If(Step("deploy", "build"), "inputs.go"),
            If(Step("never", "build"), "false"),
            Step("plain", "build"));
        var before = host.State;

        Assert.Equal("step 'deploy' is not ready: its dependencies are not done", Decider.RejectionReason(before, new StepSkipped("deploy", "x")));
        Assert.Equal("step 'plain' has no condition", Decider.RejectionReason(before, new StepSkipped("plain", "x")));
        Assert.Equal("the execution has no step 'nope'", Decider.RejectionReason(before, new StepSkipped("nope", "x")));
        Assert.Equal("the execution has not started", Decider.RejectionReason(ExecutionState.Initial, new StepSkipped("deploy", "x")));
        Assert.False(host.Deliver(new StepSkipped("build", "x")));
        Assert.Same(before, host.State);

        host.Succeed("build");

        Assert.Equal("step 'deploy' is Dispatched, not Pending", Decider.RejectionReason(host.State, new StepSkipped("deploy", "x")));
        Assert.Equal("step 'never' is Skipped, not Pending", Decider.RejectionReason(host.State, new StepSkipped("never", "x")));
        var throws = Assert.Throws<InvalidOperationException>(() => host.State.Apply(new StepSkipped("deploy", "x")));
        Assert.Contains("StepSkipped does not apply", throws.Message);
    }

    [Fact]
    public void Skip_of_a_step_whose_condition_is_true_is_refused()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(If(Step("a"), "inputs.go"))) { Input = Json("""{"go": 1}""") });

        Assert.Equal("the condition of step 'a' is true: the step runs", Decider.RejectionReason(state, new StepSkipped("a", "x")));
        Assert.Equal([new DispatchStep("a", 1)], Decider.Decide(state));
    }

    [Fact]
    public void Skip_is_refused_while_stopping_or_failing()
    {
        var host = Start(null, Step("a"), Step("b"), If(Step("c", "a"), "false"));
        host.Started("b");
        host.Cancel();
        Assert.Equal("the execution is stopping", Decider.RejectionReason(host.State, new StepSkipped("c", "x")));

        var failing = Start(null, Step("a"), Step("b"), If(Step("c", "a"), "false"));
        failing.Fail("b");
        Assert.Equal(ExecutionStatus.Running, failing.State.Status); // a is still out
        Assert.Equal("a step failed: no step starts", Decider.RejectionReason(failing.State, new StepSkipped("c", "x")));
    }

    [Fact]
    public void Failure_of_a_pending_step_is_admitted_only_as_the_record_of_its_invalid_condition()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(If(Step("bad"), "=="), If(Step("good"), "true"), Step("plain"))));

        Assert.Contains("its condition is valid", Decider.RejectionReason(state, new StepFailed("good", 0, null, "x")));
        Assert.Equal("step 'plain' attempt 0 is Pending, not Dispatched or Running", Decider.RejectionReason(state, new StepFailed("plain", 0, null, "x")));
        Assert.Contains("has no exit code", Decider.RejectionReason(state, new StepFailed("bad", 0, 1, "x")));
        Assert.Contains("not 1", Decider.RejectionReason(state, new StepFailed("bad", 1, null, "x")));
        var fail = Assert.IsType<FailStep>(Assert.Single(Decider.Decide(state)));
        Assert.Equal("bad", fail.Step);
        Assert.Null(Decider.RejectionReason(state, Decider.Record(fail)));
        var failed = state.Apply(Decider.Record(fail));
        Assert.Equal(StepStatus.Failed, failed.FindStep("bad")!.Status);
        Assert.Equal("step 'bad' attempt 0 is Failed, not Dispatched or Running", Decider.RejectionReason(failed, Decider.Record(fail)));
    }

    [Fact]
    public void Replay_of_a_history_with_skips_and_an_invalid_condition_gives_the_same_state()
    {
        var host = Start(
            """{"env": "staging", "notify": true}""",
            Step("build") with { HasCompensation = true },
            If(Step("deploy-prod", "build"), "inputs.env == 'prod'"),
            If(Step("deploy-staging", "build"), "${{ inputs.env == 'staging' }}"),
            If(Step("notify", "deploy-prod", "deploy-staging"), "inputs.notify && steps['deploy-staging'].outputs.url != null"),
            If(Step("broken", "notify") with { ContinueOnFailure = true }, "steps.notify.status =="),
            Step("done", "broken"));
        host.Succeed("build", new Dictionary<string, string> { ["image"] = "app:1" });
        StateAssert.Equivalent(host.State, ExecutionState.Fold(host.History));
        host.Succeed("deploy-staging", new Dictionary<string, string> { ["url"] = "https://staging" });
        host.Succeed("notify");
        host.Succeed("done");

        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("deploy-prod")!.Status);
        Assert.Equal(StepStatus.Failed, host.State.FindStep("broken")!.Status);
        Assert.Single(host.History.OfType<StepSkipped>());
        var replayed = ExecutionState.Fold(host.History);
        StateAssert.Equivalent(host.State, replayed);
        Assert.Equal("""{"env": "staging", "notify": true}""", replayed.Inputs!.Value.GetRawText());
        Assert.Equal(host.State.CompletionOrder, replayed.CompletionOrder);
    }

    [Fact]
    public void Replay_needs_the_same_input_the_decisions_saw()
    {
        var host = Start("""{"go": false}""", If(Step("a"), "inputs.go"));
        var started = (ExecutionStarted)host.History[0];
        var skipped = host.History[1];

        var withoutInput = ExecutionState.Initial.Apply(started with { Input = null });
        Assert.Null(Decider.RejectionReason(withoutInput, skipped)); // null is false too

        var otherInput = ExecutionState.Initial.Apply(started with { Input = Json("""{"go": true}""") });
        Assert.Equal("the condition of step 'a' is true: the step runs", Decider.RejectionReason(otherInput, skipped));
    }

    [Fact]
    public void Input_is_kept_in_the_state_as_a_private_copy()
    {
        var document = JsonDocument.Parse("""{"deploy": "yes", "n": [1, 2]}""");
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(If(Step("a"), "inputs.deploy == 'yes' && inputs.n[1] == 2"))) { Input = document.RootElement });
        document.Dispose();

        Assert.Equal("""{"deploy": "yes", "n": [1, 2]}""", state.Inputs!.Value.GetRawText());
        Assert.Equal([new DispatchStep("a", 1)], Decider.Decide(state));
        Assert.Null(ExecutionState.Initial.Inputs);
        Assert.Null(ExecutionState.Initial.Apply(new ExecutionStarted(Of(Step("a")))).Inputs);
        Assert.Null(ExecutionState.Initial.Apply(new ExecutionStarted(Of(Step("a"))) { Input = default(JsonElement) }).Inputs);
        Assert.Null(new ExecutionStarted(Of()).Input);
    }

    [Fact]
    public void Input_that_is_not_an_object_reads_as_no_properties()
    {
        var host = Start("[1, 2]", If(Step("a"), "inputs.x"), If(Step("b"), "inputs[0] == 1"));

        Assert.Equal(StepStatus.Skipped, host.State.FindStep("a")!.Status);
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("b")!.Status);
    }

    [Fact]
    public void Decide_stays_idempotent_and_the_host_never_reissues_with_conditions()
    {
        var host = Start(
            """{"x": 1}""",
            If(Step("a"), "inputs.x == 1") with { Timeout = Seconds(30) },
            If(Step("b"), "inputs.x == 2"),
            If(Approval("c") with { Timeout = Seconds(60) }, "true"),
            If(Step("d", "b"), "steps.b.status == 'skipped'"));

        Assert.Equal(
            [
                new DispatchStep("a", 1),
                new StartTimer(TimerIds.AttemptTimeout("a", 1), Seconds(30), false),
                new SkipStep("b", "condition is false: inputs.x == 2"),
                new AwaitApproval("c"),
                new StartTimer(TimerIds.ApprovalTimeout("c"), Seconds(60), false),
                new DispatchStep("d", 1),
            ],
            host.TakeCommands());
        Assert.Empty(Decider.Decide(host.State));
    }
}
