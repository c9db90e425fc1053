using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class SchedulingTests
{
    [Fact]
    public void Sequential_steps_dispatch_one_after_another()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("test", "build", "deploy"));
        Assert.Equal([new DispatchStep("test", 1)], host.TakeCommands());

        host.Started("test");
        Assert.Empty(host.TakeCommands());
        host.Succeed("test");
        Assert.Equal([new DispatchStep("build", 1)], host.TakeCommands());

        host.Succeed("build");
        Assert.Equal([new DispatchStep("deploy", 1)], host.TakeCommands());

        host.Succeed("deploy");
        Assert.Equal([new FinishExecution(ExecutionStatus.Succeeded, null)], host.TakeCommands());
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.All(host.State.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
    }

    [Fact]
    public void Parallel_steps_are_all_dispatched_together()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("lint", "unit", "docs"));

        Assert.Equal(
            [new DispatchStep("lint", 1), new DispatchStep("unit", 1), new DispatchStep("docs", 1)],
            host.TakeCommands());
        Assert.All(host.State.Steps, s => Assert.Equal(StepStatus.Dispatched, s.Status));
    }

    [Fact]
    public void Parallel_execution_finishes_only_when_the_last_member_succeeds()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b", "c"));
        host.TakeCommands();

        host.Succeed("b");
        host.Succeed("c");
        Assert.Empty(host.TakeCommands());
        Assert.Equal(ExecutionStatus.Running, host.State.Status);

        host.Succeed("a");
        Assert.Equal([new FinishExecution(ExecutionStatus.Succeeded, null)], host.TakeCommands());
    }

    [Fact]
    public void Diamond_joins_before_the_last_step()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("checkout"),
            Step("test", "checkout"),
            Step("build", "checkout"),
            Step("deploy", "test", "build"));
        Assert.Equal([new DispatchStep("checkout", 1)], host.TakeCommands());

        host.Succeed("checkout");
        Assert.Equal([new DispatchStep("test", 1), new DispatchStep("build", 1)], host.TakeCommands());

        host.Succeed("build");
        Assert.Empty(host.TakeCommands());
        Assert.Equal(StepStatus.Pending, host.State.FindStep("deploy")!.Status);

        host.Succeed("test");
        Assert.Equal([new DispatchStep("deploy", 1)], host.TakeCommands());

        host.Succeed("deploy");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Fact]
    public void Step_without_dependencies_is_dispatched_at_once_wherever_it_is_declared()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("a"),
            Step("b", "a"),
            Step("independent"));

        Assert.Equal([new DispatchStep("a", 1), new DispatchStep("independent", 1)], host.TakeCommands());
    }

    [Fact]
    public void Dependency_on_a_later_declared_step_is_honoured()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("deploy", "build"),
            Step("build"));
        Assert.Equal([new DispatchStep("build", 1)], host.TakeCommands());

        host.Succeed("build");
        Assert.Equal([new DispatchStep("deploy", 1)], host.TakeCommands());
    }

    [Fact]
    public void Empty_plan_finishes_succeeded_at_once()
    {
        var host = new InMemoryExecutionHost().Start(new ExecutionPlan([]));

        Assert.Equal([new FinishExecution(ExecutionStatus.Succeeded, null)], host.Commands);
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Null(host.State.Error);
    }

    [Fact]
    public void Nothing_is_decided_before_the_execution_started()
    {
        Assert.Empty(Decider.Decide(ExecutionState.Initial));
        Assert.Equal(ExecutionStatus.Pending, ExecutionState.Initial.Status);
        Assert.Empty(ExecutionState.Initial.Steps);
    }

    [Fact]
    public void Nothing_is_decided_after_the_execution_finished()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a", "b"));
        host.Fail("a");

        Assert.True(host.State.IsFinished);
        Assert.Empty(Decider.Decide(host.State));
    }

    [Fact]
    public void Started_step_records_its_runner()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a"));
        host.Started("a", "runner-7");

        var step = host.State.FindStep("a")!;
        Assert.Equal(StepStatus.Running, step.Status);
        Assert.Equal("runner-7", step.RunnerId);
        Assert.Equal(1, step.Attempt);
    }

    [Fact]
    public void Succeeded_step_keeps_exit_code_and_outputs()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a"));
        host.Started("a");
        host.Succeed("a", new Dictionary<string, string> { ["version"] = "1.2.3" });

        var step = host.State.FindStep("a")!;
        Assert.Equal(StepStatus.Succeeded, step.Status);
        Assert.Equal(0, step.ExitCode);
        Assert.Equal("1.2.3", step.Outputs["version"]);
        Assert.Equal("runner-1", step.RunnerId);
    }
}
