using System.Text.Json;
using Platform.Execution.Core.Tests.Simulation;

namespace Platform.Execution.Core.Tests;

/// <summary>
/// Random plans with random retry policies, timeouts, approvals, continue_on_failure and compensations, driven by
/// random results, timers (also stale ones), signals, cancels, compensation results and execution retries, with noise.
/// Each seed is one reproducible run; the history is then replayed and judged event by event.
/// </summary>
public class ResiliencePropertyTests
{
    private static readonly Dictionary<string, string> NoOutputs = [];

    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 400; seed++)
        {
            seeds.Add(seed);
        }

        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_resilient_runs_obey_the_invariants(int seed)
    {
        var random = new Random(seed);
        var plan = RandomDag.CreateWithResilience(random);
        var failureProbability = (seed % 4) switch { 0 => 0.0, 1 => 0.1, 2 => 0.3, _ => 0.6 };
        var cancelProbability = seed % 5 == 0 ? 0.05 : 0.005;

        var host = Simulate(plan, random, failureProbability, cancelProbability);

        AssertInvariants(plan, host);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_runs_with_conditions_obey_the_invariants(int seed)
    {
        var random = new Random(seed);
        var (plan, input) = RandomDag.CreateWithConditions(random);
        var failureProbability = (seed % 4) switch { 0 => 0.0, 1 => 0.1, 2 => 0.3, _ => 0.6 };

        var host = Simulate(plan, random, failureProbability, seed % 5 == 0 ? 0.05 : 0.005, input, offerSkips: true);

        AssertInvariants(plan, host);
    }

    /// <summary>Guards the condition generator: skips, invalid conditions and conditional steps that run all happen.</summary>
    [Fact]
    public void Random_runs_with_conditions_skip_fail_and_run_conditional_steps()
    {
        var seen = new Dictionary<string, int>();
        for (var seed = 1; seed <= 400; seed++)
        {
            var random = new Random(seed);
            var (plan, input) = RandomDag.CreateWithConditions(random);
            var host = Simulate(plan, random, (seed % 4) switch { 0 => 0.0, 1 => 0.1, 2 => 0.3, _ => 0.6 }, seed % 5 == 0 ? 0.05 : 0.005, input, offerSkips: true);
            var conditional = plan.Steps.Where(s => s.Condition is not null).Select(s => s.Name).ToHashSet();
            void Count(string kind, int n = 1) => seen[kind] = seen.GetValueOrDefault(kind) + n;
            Count("skipped", host.History.OfType<StepSkipped>().Count());
            Count("condition failed", host.Commands.OfType<FailStep>().Count());
            Count("conditional step ran", host.History.OfType<StepDispatched>().Count(d => conditional.Contains(d.Step)));
            Count("skips refused", host.Rejected.Count(r => r.Event is StepSkipped));
            Count("succeeded with a skip", host.State.Status == ExecutionStatus.Succeeded && host.State.Steps.Any(s => s.SkipReason is not null) ? 1 : 0);
            Count("skipped again after a retry", host.History.OfType<StepSkipped>().GroupBy(x => x.Step).Count(g => g.Count() > 1));
        }

        Assert.All(seen, pair => Assert.True(pair.Value >= 10, $"{pair.Key}: {pair.Value} in {string.Join(", ", seen.OrderBy(p => p.Key, StringComparer.Ordinal))}"));
        Assert.Equal(6, seen.Count);
    }

    /// <summary>Guards the generator: across the seeds, every feature is exercised, so the invariants are not vacuous.</summary>
    [Fact]
    public void Random_runs_exercise_every_feature()
    {
        var seen = new Dictionary<string, int>();
        for (var seed = 1; seed <= 400; seed++)
        {
            var random = new Random(seed);
            var plan = RandomDag.CreateWithResilience(random);
            var host = Simulate(plan, random, (seed % 4) switch { 0 => 0.0, 1 => 0.1, 2 => 0.3, _ => 0.6 }, seed % 5 == 0 ? 0.05 : 0.005);
            foreach (var e in host.History)
            {
                var kind = e switch
                {
                    TimerFired f => "TimerFired " + f.TimerId.Split(':')[0],
                    ExecutionFinished f => "ExecutionFinished " + f.Status,
                    _ => e.GetType().Name,
                };
                seen[kind] = seen.GetValueOrDefault(kind) + 1;
            }

            foreach (var step in host.State.Steps.Where(s => s.ContinuedOnFailure))
            {
                seen["continued"] = seen.GetValueOrDefault("continued") + 1;
            }

            seen["stale timers refused"] = seen.GetValueOrDefault("stale timers refused")
                + host.Rejected.Count(r => r.Event is TimerFired);
        }

        string[] features =
        [
            "TimerFired retry", "TimerFired timeout", "TimerFired approval-timeout", "TimerFired execution-timeout",
            "JobCancelRequested", "StepCancelled", "CancelRequested", "SignalReceived", "RetryRequested",
            "CompensationSucceeded", "CompensationFailed", "ExecutionFinished Succeeded", "ExecutionFinished Failed",
            "ExecutionFinished Cancelled", "continued", "stale timers refused",
        ];
        Assert.All(features, feature => Assert.True(seen.GetValueOrDefault(feature) >= 10, $"{feature}: {seen.GetValueOrDefault(feature)} in {string.Join(", ", seen.OrderBy(p => p.Key, StringComparer.Ordinal))}"));
    }

    private static InMemoryExecutionHost Simulate(
        ExecutionPlan plan, Random random, double failureProbability, double cancelProbability, JsonElement? input = null, bool offerSkips = false)
    {
        var host = new InMemoryExecutionHost(jitter: t => t.Delay * (0.5 + (random.NextDouble() / 2))).Start(plan, input);
        var delivered = new List<ExecutionEvent>();
        var retries = 0;

        for (var turn = 0; ; turn++)
        {
            Assert.True(turn < 20_000, "the simulation does not end");
            var state = host.State;
            if (state.IsFinished)
            {
                if (state.Status == ExecutionStatus.Failed && retries < 2 && random.NextDouble() < 0.5)
                {
                    retries++;
                    Assert.True(host.RetryExecution());
                    continue;
                }

                break;
            }

            if (random.NextDouble() < 0.2)
            {
                OfferNoise(host, random, delivered);
            }

            if (random.NextDouble() < 0.1)
            {
                OfferStaleTimer(host, random);
            }

            if (offerSkips && state.Steps.Count > 0 && random.NextDouble() < 0.2)
            {
                // Between facts nothing is due (the host ran Decide to the end), so a skip from outside never applies.
                var before = host.State;
                var skip = new StepSkipped(state.Steps[random.Next(state.Steps.Count)].Name, "from outside");
                Assert.False(host.Deliver(skip), $"{skip} was admitted");
                Assert.Same(before, host.State);
            }

            if (state.Status == ExecutionStatus.Running && !state.IsStopping && random.NextDouble() < cancelProbability)
            {
                Assert.True(host.Cancel($"cancel at turn {turn}"));
                continue;
            }

            var next = NextFact(state, random, failureProbability);
            Assert.True(next is not null, $"the execution is {state.Status} but nothing can move it: it would hang");
            Assert.NotNull(next);
            Assert.True(host.Deliver(next), $"{next} was not admitted: {host.Rejected.LastOrDefault()?.Reason}");
            delivered.Add(next);
        }

        // Late and duplicate facts after the finish change nothing.
        var finished = host.State;
        var late = delivered
            .Concat(plan.Steps.Select(s => (ExecutionEvent)new StepSucceeded(s.Name, 1, 0, NoOutputs)))
            .Concat(plan.Steps.Select(s => (ExecutionEvent)new StepSkipped(s.Name, "late")))
            .Concat(host.ScheduledTimers.Keys.Select(id => (ExecutionEvent)new TimerFired(id)))
            .Append(new CancelRequested(null))
            .Concat(plan.Steps.Select(s => (ExecutionEvent)new SignalReceived(s.Name, NoOutputs)));
        foreach (var e in late)
        {
            Assert.False(host.Deliver(e), $"{e} was admitted after the finish");
        }

        Assert.Same(finished, host.State);
        Assert.Empty(Decider.Decide(host.State));
        return host;
    }

    /// <summary>A fact the world could produce now, or null when nothing is out (which must mean the execution is over).</summary>
    private static ExecutionEvent? NextFact(ExecutionState state, Random random, double failureProbability)
    {
        var compensating = state.Steps.FirstOrDefault(s => s.Compensation == CompensationStatus.Running);
        if (compensating is not null)
        {
            return random.NextDouble() < 0.3
                ? new CompensationFailed(compensating.Name, "undo failed")
                : new CompensationSucceeded(compensating.Name);
        }

        var timers = state.Timers.Keys.ToList();
        var active = state.Steps.Where(s => s.IsActive).ToList();
        var waiting = state.Steps.Where(s => s.Status == StepStatus.Waiting).ToList();

        // Timers fire now and then (an execution timeout rarely), unless nothing else can happen.
        var timerChance = active.Count + waiting.Count == 0 ? 1.0 : 0.15;
        var fireable = timers.Where(id => id != TimerIds.ExecutionTimeout || random.NextDouble() < 0.3).ToList();
        if (fireable.Count > 0 && random.NextDouble() < timerChance)
        {
            return new TimerFired(fireable[random.Next(fireable.Count)]);
        }

        if (waiting.Count > 0 && (active.Count == 0 || random.NextDouble() < 0.3))
        {
            var step = waiting[random.Next(waiting.Count)];
            return new SignalReceived(step.Name, new Dictionary<string, string> { ["approved_by"] = "alice" });
        }

        if (active.Count > 0)
        {
            var step = active[random.Next(active.Count)];
            var roll = random.NextDouble();
            return step switch
            {
                { Cancelling: true } when roll < 0.7 => new StepCancelled(step.Name, step.Attempt),
                { Status: StepStatus.Dispatched } when roll < 0.4 => new StepStarted(step.Name, step.Attempt, $"runner-{random.Next(3)}"),
                _ when roll < 0.03 => new StepCancelled(step.Name, step.Attempt), // the runner stopped it on its own
                _ when random.NextDouble() < failureProbability => new StepFailed(step.Name, step.Attempt, random.Next(1, 4), ""),
                _ => new StepSucceeded(step.Name, step.Attempt, 0, new Dictionary<string, string> { ["from"] = step.Name }),
            };
        }

        return timers.Count > 0 ? new TimerFired(timers[random.Next(timers.Count)]) : null;
    }

    /// <summary>Fires a timer the host stored but the core no longer considers active: refused, nothing changes.</summary>
    private static void OfferStaleTimer(InMemoryExecutionHost host, Random random)
    {
        var stale = host.ScheduledTimers.Keys.Where(id => !host.ActiveTimers.ContainsKey(id)).ToList();
        if (stale.Count == 0)
        {
            return;
        }

        var before = host.State;
        var id = stale[random.Next(stale.Count)];
        Assert.False(host.FireTimer(id), $"stale timer {id} was admitted");
        Assert.Same(before, host.State);
    }

    /// <summary>Offers an event that must not be admitted and checks that it changes nothing.</summary>
    private static void OfferNoise(InMemoryExecutionHost host, Random random, List<ExecutionEvent> delivered)
    {
        var steps = host.State.Steps;
        if (steps.Count == 0)
        {
            return;
        }

        var step = steps[random.Next(steps.Count)];
        ExecutionEvent? noise = random.Next(8) switch
        {
            0 when delivered.Count > 0 && delivered[random.Next(delivered.Count)] is var old && old is not (CancelRequested or RetryRequested) => old,
            1 => new StepSucceeded(step.Name, step.Attempt + 1, 0, NoOutputs),
            2 => new StepFailed(step.Name, step.Attempt - 1, 1, "stale attempt"),
            3 => new TimerFired(TimerIds.Retry(step.Name, step.Attempt + 2)),
            4 when step.Status != StepStatus.Waiting => new SignalReceived(step.Name, NoOutputs),
            5 when step.Compensation != CompensationStatus.Running => new CompensationSucceeded(step.Name),
            6 when host.State.Status != ExecutionStatus.Failed => new RetryRequested(),
            _ => step.IsActive ? new StepStarted("no-such-step", 1, "r") : new StepFailed(step.Name, step.Attempt, 1, "not out"),
        };

        if (noise is null || Decider.Admits(host.State, noise))
        {
            return; // a duplicate of a fact that happens to apply again (e.g. a signal for a re-requested approval)
        }

        var before = host.State;
        Assert.False(host.Deliver(noise));
        Assert.Same(before, host.State);
    }

    private static string StepOf(ExecutionEvent e) => e switch
    {
        StepSkipped x => x.Step,
        StepFailed x => x.Step,
        _ => throw new ArgumentException(e.ToString(), nameof(e)),
    };

    private static void AssertInvariants(ExecutionPlan plan, InMemoryExecutionHost host)
    {
        var planned = plan.Steps.ToDictionary(s => s.Name);
        var lastAttempt = new Dictionary<string, int>();
        var killsDue = new HashSet<(string Step, int Attempt)>();
        Queue<string>? compensationOrder = null;
        var finishesInRun = 0;
        var runs = 1;
        var cancelledInRun = false;
        var timedOutInRun = false;
        var state = ExecutionState.Initial;
        var judged = new HashSet<(string Step, int Run)>();
        var lastAttemptAtRunStart = new Dictionary<string, int>();

        foreach (var e in host.History)
        {
            Assert.False(state.IsFinished && e is not RetryRequested, $"{e} recorded after the finish");
            switch (e)
            {
                case StepDispatched or ApprovalRequested:
                    var (name, attempt) = e is StepDispatched d ? (d.Step, d.Attempt) : (((ApprovalRequested)e).Step, state.FindStep(((ApprovalRequested)e).Step)!.Attempt + 1);
                    Assert.Equal(ExecutionStatus.Running, state.Status);
                    Assert.False(state.IsStopping, $"{e} while stopping");
                    Assert.DoesNotContain(state.Steps, s => s.Status == StepStatus.Failed && !s.ContinuedOnFailure);
                    Assert.All(planned[name].DependsOn, dependency => Assert.True(
                        state.FindStep(dependency) is { Status: StepStatus.Succeeded or StepStatus.Skipped } or { Status: StepStatus.Failed, ContinuedOnFailure: true },
                        $"{e} before its dependency {dependency} was done"));
                    Assert.DoesNotContain((name, runs), judged); // a skipped or condition-failed step does not run in the same run
                    Assert.False(state.FindStep(name)!.IsActive, $"{e}: another attempt of {name} is active");
                    Assert.DoesNotContain(killsDue, k => k.Step == name); // the timed-out job is killed before the next attempt
                    Assert.Equal(lastAttempt.GetValueOrDefault(name) + 1, attempt);
                    lastAttempt[name] = attempt;
                    break;
                case StepSkipped or StepFailed when state.FindStep(StepOf(e))!.Status == StepStatus.Pending:
                    // A condition's verdict (false, or does not parse): in the normal phase, on a ready step never tried in this run.
                    var judgedStep = StepOf(e);
                    Assert.NotNull(planned[judgedStep].Condition);
                    Assert.Equal(e is StepFailed, planned[judgedStep].Condition == "inputs.flag ==");
                    Assert.Equal(ExecutionStatus.Running, state.Status);
                    Assert.False(state.IsStopping, $"{e} while stopping");
                    Assert.DoesNotContain(state.Steps, s => s.Status == StepStatus.Failed && !s.ContinuedOnFailure);
                    Assert.All(planned[judgedStep].DependsOn, dependency => Assert.True(
                        state.FindStep(dependency) is { Status: StepStatus.Succeeded or StepStatus.Skipped } or { Status: StepStatus.Failed, ContinuedOnFailure: true },
                        $"{e} before its dependency {dependency} was done"));
                    Assert.Equal(lastAttemptAtRunStart.GetValueOrDefault(judgedStep), state.FindStep(judgedStep)!.Attempt);
                    Assert.True(judged.Add((judgedStep, runs)), $"{e}: judged twice in run {runs}");
                    break;
                case StepStarted or StepSucceeded or StepFailed or StepCancelled:
                    var (step, resultAttempt) = e switch
                    {
                        StepStarted x => (x.Step, x.Attempt),
                        StepSucceeded x => (x.Step, x.Attempt),
                        StepFailed x => (x.Step, x.Attempt),
                        _ => (((StepCancelled)e).Step, ((StepCancelled)e).Attempt),
                    };
                    Assert.Equal(lastAttempt[step], resultAttempt);
                    break;
                case TimerScheduled or JobCancelRequested:
                    Assert.Equal(ExecutionStatus.Running, state.Status);
                    if (e is JobCancelRequested cancel)
                    {
                        var target = state.FindStep(cancel.Step)!;
                        Assert.True(
                            killsDue.Remove((cancel.Step, cancel.Attempt)) || (target.IsActive && target.Attempt == cancel.Attempt && state.IsStopping),
                            $"{e} for an attempt that is neither timed out nor out during a cancel");
                    }

                    break;
                case TimerFired fired:
                    var timer = state.Timers[fired.TimerId];
                    if (timer.Purpose == TimerPurpose.AttemptTimeout && !state.FindStep(timer.Step!)!.Cancelling)
                    {
                        killsDue.Add((timer.Step!, timer.Attempt!.Value));
                    }

                    timedOutInRun |= timer.Purpose == TimerPurpose.ExecutionTimeout;
                    break;
                case CancelRequested:
                    cancelledInRun = true;
                    break;
                case CompensationDispatched compensation:
                    compensationOrder ??= new Queue<string>(state.CompletionOrder.Reverse().Where(s =>
                        planned[s].HasCompensation && state.FindStep(s)!.Compensation == CompensationStatus.None));
                    Assert.True(compensationOrder.Count > 0, $"{e}: nothing left to compensate");
                    Assert.Equal(compensationOrder.Dequeue(), compensation.Step);
                    Assert.Equal(StepStatus.Succeeded, state.FindStep(compensation.Step)!.Status);
                    Assert.DoesNotContain(state.Steps, s => s.IsActive);
                    break;
                case ExecutionFinished finished:
                    finishesInRun++;
                    Assert.Equal(1, finishesInRun);
                    Assert.Empty(killsDue);
                    Assert.True(compensationOrder is null or { Count: 0 }, "finished before every compensation ran");
                    Assert.DoesNotContain(state.Steps, s => s.IsActive || s.Compensation is CompensationStatus.Running or CompensationStatus.Pending);
                    if (cancelledInRun)
                    {
                        Assert.Equal(ExecutionStatus.Cancelled, finished.Status);
                    }
                    else if (timedOutInRun)
                    {
                        Assert.Equal(ExecutionStatus.Failed, finished.Status);
                        Assert.StartsWith("execution timed out after ", finished.Error);
                    }
                    else if (finished.Status == ExecutionStatus.Succeeded)
                    {
                        Assert.All(state.Steps, s => Assert.True(
                            s is { Status: StepStatus.Succeeded } or { Status: StepStatus.Failed, ContinuedOnFailure: true }
                                or { Status: StepStatus.Skipped, SkipReason: not null }));
                        Assert.Null(compensationOrder);
                    }
                    else
                    {
                        Assert.Equal(ExecutionStatus.Failed, finished.Status);
                        Assert.Contains(state.Steps, s => s.Status == StepStatus.Failed && !s.ContinuedOnFailure);
                    }

                    if (compensationOrder is null && finished.Status != ExecutionStatus.Succeeded)
                    {
                        // Nothing was compensated: because nothing was left to compensate.
                        Assert.DoesNotContain(state.Steps, s => s.Status == StepStatus.Succeeded && planned[s.Name].HasCompensation && s.Compensation == CompensationStatus.None);
                    }

                    break;
                case RetryRequested:
                    lastAttemptAtRunStart = state.Steps.ToDictionary(s => s.Name, s => s.Attempt);
                    runs++;
                    finishesInRun = 0;
                    cancelledInRun = false;
                    timedOutInRun = false;
                    compensationOrder = null;
                    break;
            }

            state = state.Apply(e);
        }

        Assert.True(host.State.IsFinished);
        Assert.Equal(1, finishesInRun);
        Assert.Equal(runs, host.Commands.OfType<FinishExecution>().Count());
        Assert.IsType<FinishExecution>(host.Commands[^1]);
        StateAssert.Equivalent(host.State, state);
        Assert.Empty(host.State.Timers);
        Assert.DoesNotContain(host.State.Steps, s => s.Status is StepStatus.Pending or StepStatus.Dispatched or StepStatus.Running or StepStatus.Waiting or StepStatus.Retrying);
        Assert.All(host.State.Steps.Where(s => s.Compensation != CompensationStatus.None), s => Assert.Equal(StepStatus.Succeeded, s.Status));
        if (host.State.Status != ExecutionStatus.Succeeded)
        {
            Assert.All(
                host.State.Steps.Where(s => s.Compensation == CompensationStatus.Failed),
                s => Assert.Contains($"compensation of step '{s.Name}' failed", host.State.Error));
        }
    }
}
