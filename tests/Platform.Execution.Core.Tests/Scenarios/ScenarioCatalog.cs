using System.Globalization;
using System.Text.Json;

namespace Platform.Execution.Core.Tests.Scenarios;

/// <summary>
/// A named orchestration scenario that every engine must play the same way: start <see cref="Plan"/> (with
/// <see cref="Input"/> as the execution's input), offer the
/// external facts of <see cref="Script"/> in order (each must be admitted or refused as it says), and end with exactly
/// <see cref="ExpectedHistory"/> recorded (see <see cref="EventText.Describe"/>), the execution in
/// <see cref="ExpectedStatus"/> with <see cref="ExpectedError"/>, and the named steps in <see cref="ExpectedSteps"/>.
/// </summary>
/// <remarks>
/// Engine-neutral: it depends only on Platform.Execution.Core (no test framework, no host), so another test project
/// (the Temporal engine's) can compile this file as a link and run the same catalog. No scenario uses jitter, so the
/// recorded timer delays are the ones in the history.
/// </remarks>
public sealed record Scenario(
    string Name,
    string Description,
    ExecutionPlan Plan,
    IReadOnlyList<ScenarioInput> Script,
    IReadOnlyList<string> ExpectedHistory,
    ExecutionStatus ExpectedStatus,
    string? ExpectedError,
    IReadOnlyDictionary<string, StepStatus> ExpectedSteps)
{
    /// <summary>The execution's input (<see cref="ExecutionStarted.Input"/>); null: none.</summary>
    public JsonElement? Input { get; init; }

    /// <summary>The event types of <see cref="ExpectedHistory"/> (for an engine that compares kinds and order only).</summary>
    public IReadOnlyList<string> ExpectedEventTypes => ExpectedHistory.Select(EventText.TypeOf).ToList();

    public override string ToString() => Name;
}

/// <summary>An external fact offered to the engine, and whether the engine must admit it.</summary>
public sealed record ScenarioInput(ExecutionEvent Event, bool Admitted = true)
{
    public override string ToString() => (Admitted ? "" : "refused: ") + EventText.Describe(Event);
}

/// <summary>A short, engine-neutral text of an event: its type and identity (step#attempt, timer id, status).</summary>
public static class EventText
{
    public static string Describe(ExecutionEvent e) => e switch
    {
        ExecutionStarted => "ExecutionStarted",
        StepDispatched x => $"StepDispatched {Attempt(x.Step, x.Attempt)}",
        StepStarted x => $"StepStarted {Attempt(x.Step, x.Attempt)}",
        StepSucceeded x => $"StepSucceeded {Attempt(x.Step, x.Attempt)}",
        StepFailed x => $"StepFailed {Attempt(x.Step, x.Attempt)}",
        StepCancelled x => $"StepCancelled {Attempt(x.Step, x.Attempt)}",
        StepSkipped x => $"StepSkipped {x.Step}",
        JobCancelRequested x => $"JobCancelRequested {Attempt(x.Step, x.Attempt)}",
        TimerScheduled x => $"TimerScheduled {x.TimerId} {Durations.Format(x.Delay)}",
        TimerFired x => $"TimerFired {x.TimerId}",
        ApprovalRequested x => $"ApprovalRequested {x.Step}",
        SignalReceived x => $"SignalReceived {x.Name}",
        CancelRequested => "CancelRequested",
        RetryRequested => "RetryRequested",
        CompensationDispatched x => $"CompensationDispatched {x.Step}",
        CompensationSucceeded x => $"CompensationSucceeded {x.Step}",
        CompensationFailed x => $"CompensationFailed {x.Step}",
        ExecutionFinished x => $"ExecutionFinished {x.Status}",
        _ => e.GetType().Name,
    };

    /// <summary>The type part of a <see cref="Describe"/> text.</summary>
    public static string TypeOf(string described)
    {
        ArgumentNullException.ThrowIfNull(described);
        var space = described.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? described : described[..space];
    }

    private static string Attempt(string step, int attempt) => string.Create(CultureInfo.InvariantCulture, $"{step}#{attempt}");
}

/// <summary>The shared scenarios: sequential, parallel, DAG, retry, timeout, compensation, cancel, approval, if, and more.</summary>
public static class ScenarioCatalog
{
    private static readonly Dictionary<string, string> None = [];

    public static IReadOnlyList<Scenario> All { get; } =
    [
        Sequential(),
        Parallel(),
        Dag(),
        FailFast(),
        RetryWithBackoff(),
        RetryNonRetryableExitCode(),
        AttemptTimeout(),
        ContinueOnFailure(),
        Compensation(),
        Cancel(),
        CancelRacingSuccess(),
        ApprovalGranted(),
        ApprovalTimedOut(),
        ExecutionTimeout(),
        RetryOfFailedExecution(),
        Conditions(),
    ];

    public static Scenario Get(string name) =>
        All.SingleOrDefault(s => s.Name == name) ?? throw new ArgumentException($"no scenario '{name}'", nameof(name));

    private static Scenario Sequential() => new(
        "sequential",
        "Each step starts when the one before it succeeded.",
        Plan(Step("test"), Step("build", "test"), Step("deploy", "build")),
        [
            Ok(new StepStarted("test", 1, "runner-1")),
            Ok(Succeeded("test", 1)),
            Ok(Succeeded("build", 1)),
            Ok(Succeeded("deploy", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched test#1",
            "StepStarted test#1",
            "StepSucceeded test#1",
            "StepDispatched build#1",
            "StepSucceeded build#1",
            "StepDispatched deploy#1",
            "StepSucceeded deploy#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("test", StepStatus.Succeeded), ("build", StepStatus.Succeeded), ("deploy", StepStatus.Succeeded)));

    private static Scenario Parallel() => new(
        "parallel",
        "The members of a parallel group start together; the step after the group waits for all of them.",
        Plan(Step("lint"), Step("unit"), Step("docs"), Step("publish", "lint", "unit", "docs")),
        [
            Ok(Succeeded("unit", 1)),
            Ok(Succeeded("docs", 1)),
            Refused(Succeeded("publish", 1)),
            Ok(Succeeded("lint", 1)),
            Ok(Succeeded("publish", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched lint#1",
            "StepDispatched unit#1",
            "StepDispatched docs#1",
            "StepSucceeded unit#1",
            "StepSucceeded docs#1",
            "StepSucceeded lint#1",
            "StepDispatched publish#1",
            "StepSucceeded publish#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("publish", StepStatus.Succeeded)));

    private static Scenario Dag() => new(
        "dag",
        "A diamond declared out of order: deploy waits for test and build, which wait for checkout.",
        Plan(Step("deploy", "test", "build"), Step("test", "checkout"), Step("build", "checkout"), Step("checkout")),
        [
            Ok(Succeeded("checkout", 1)),
            Ok(Succeeded("build", 1)),
            Ok(Succeeded("test", 1)),
            Ok(Succeeded("deploy", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched checkout#1",
            "StepSucceeded checkout#1",
            "StepDispatched test#1",
            "StepDispatched build#1",
            "StepSucceeded build#1",
            "StepSucceeded test#1",
            "StepDispatched deploy#1",
            "StepSucceeded deploy#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("deploy", StepStatus.Succeeded)));

    private static Scenario FailFast() => new(
        "fail-fast",
        "A step fails for good: nothing new starts, a sibling waiting for its retry stops retrying, the running sibling is awaited.",
        Plan(
            Step("flaky") with { Retry = Backoff(3, "1s", "10s") },
            Step("broken"),
            Step("slow"),
            Step("after", "flaky", "broken", "slow")),
        [
            Ok(Failed("flaky", 1, 1)),
            Ok(Failed("broken", 1, 3)),
            Refused(new TimerFired("retry:flaky:2")),
            Ok(Succeeded("slow", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched flaky#1",
            "StepDispatched broken#1",
            "StepDispatched slow#1",
            "StepFailed flaky#1",
            "TimerScheduled retry:flaky:2 1s",
            "StepFailed broken#1",
            "StepSucceeded slow#1",
            "ExecutionFinished Failed",
        ],
        ExecutionStatus.Failed,
        "step 'flaky' failed: exit code 1; step 'broken' failed: exit code 3",
        Steps(("flaky", StepStatus.Failed), ("broken", StepStatus.Failed), ("slow", StepStatus.Succeeded), ("after", StepStatus.Skipped)));

    private static Scenario RetryWithBackoff() => new(
        "retry",
        "Failed attempts are retried after durable timers of 1s, 2s, 4s, then 4s again (capped at max).",
        Plan(Step("flaky") with { Retry = Backoff(5, "1s", "4s") }),
        [
            Ok(Failed("flaky", 1, 1)),
            Refused(new TimerFired("retry:flaky:3")),
            Ok(new TimerFired("retry:flaky:2")),
            Ok(Failed("flaky", 2, 1)),
            Ok(new TimerFired("retry:flaky:3")),
            Ok(Failed("flaky", 3, 1)),
            Ok(new TimerFired("retry:flaky:4")),
            Ok(Failed("flaky", 4, 1)),
            Refused(new TimerFired("retry:flaky:4")),
            Ok(new TimerFired("retry:flaky:5")),
            Ok(Succeeded("flaky", 5)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched flaky#1",
            "StepFailed flaky#1",
            "TimerScheduled retry:flaky:2 1s",
            "TimerFired retry:flaky:2",
            "StepDispatched flaky#2",
            "StepFailed flaky#2",
            "TimerScheduled retry:flaky:3 2s",
            "TimerFired retry:flaky:3",
            "StepDispatched flaky#3",
            "StepFailed flaky#3",
            "TimerScheduled retry:flaky:4 4s",
            "TimerFired retry:flaky:4",
            "StepDispatched flaky#4",
            "StepFailed flaky#4",
            "TimerScheduled retry:flaky:5 4s",
            "TimerFired retry:flaky:5",
            "StepDispatched flaky#5",
            "StepSucceeded flaky#5",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("flaky", StepStatus.Succeeded)));

    private static Scenario RetryNonRetryableExitCode() => new(
        "retry-non-retryable-exit-code",
        "A failure whose exit code is listed as not retryable fails the step at once.",
        Plan(Step("deploy") with { Retry = Backoff(3, "1s", "10s", nonRetryable: [2, 78]) }),
        [
            Ok(Failed("deploy", 1, 78)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched deploy#1",
            "StepFailed deploy#1",
            "ExecutionFinished Failed",
        ],
        ExecutionStatus.Failed,
        "step 'deploy' failed: exit code 78",
        Steps(("deploy", StepStatus.Failed)));

    private static Scenario AttemptTimeout() => new(
        "timeout",
        "An attempt times out: it fails, its job is cancelled, it is retried; the late result and stale timers are refused.",
        Plan(
            Step("slow") with { Timeout = Duration("30s"), Retry = Backoff(2, "1s", "1s") },
            Step("next", "slow")),
        [
            Ok(new StepStarted("slow", 1, "runner-1")),
            Ok(new TimerFired("timeout:slow:1")),
            Refused(Succeeded("slow", 1)),
            Refused(new StepCancelled("slow", 1)),
            Ok(new TimerFired("retry:slow:2")),
            Ok(Succeeded("slow", 2)),
            Refused(new TimerFired("timeout:slow:2")),
            Refused(new TimerFired("timeout:slow:1")),
            Ok(Succeeded("next", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched slow#1",
            "TimerScheduled timeout:slow:1 30s",
            "StepStarted slow#1",
            "TimerFired timeout:slow:1",
            "JobCancelRequested slow#1",
            "TimerScheduled retry:slow:2 1s",
            "TimerFired retry:slow:2",
            "StepDispatched slow#2",
            "TimerScheduled timeout:slow:2 30s",
            "StepSucceeded slow#2",
            "StepDispatched next#1",
            "StepSucceeded next#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("slow", StepStatus.Succeeded), ("next", StepStatus.Succeeded)));

    private static Scenario ContinueOnFailure() => new(
        "continue-on-failure",
        "A step with continue_on_failure fails for good; its dependents run and the execution succeeds.",
        Plan(Step("lint") with { ContinueOnFailure = true }, Step("build", "lint")),
        [
            Ok(Failed("lint", 1, 1)),
            Ok(Succeeded("build", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched lint#1",
            "StepFailed lint#1",
            "StepDispatched build#1",
            "StepSucceeded build#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("lint", StepStatus.Failed), ("build", StepStatus.Succeeded)));

    private static Scenario Compensation() => new(
        "compensation",
        "The execution fails: the succeeded steps are compensated one at a time in reverse order of completion; a failed compensation is named in the error and the rest still run.",
        Plan(
            Step("reserve") with { HasCompensation = true },
            Step("charge") with { HasCompensation = true },
            Step("notify"),
            Step("label") with { HasCompensation = true },
            Step("ship", "reserve", "charge", "notify", "label")),
        [
            Ok(Succeeded("charge", 1)),
            Ok(Succeeded("notify", 1)),
            Ok(Succeeded("label", 1)),
            Ok(Succeeded("reserve", 1)),
            Ok(Failed("ship", 1, 1)),
            Refused(new CompensationSucceeded("charge")),
            Ok(new CompensationSucceeded("reserve")),
            Ok(new CompensationFailed("label", "label already printed")),
            Ok(new CompensationSucceeded("charge")),
        ],
        [
            "ExecutionStarted",
            "StepDispatched reserve#1",
            "StepDispatched charge#1",
            "StepDispatched notify#1",
            "StepDispatched label#1",
            "StepSucceeded charge#1",
            "StepSucceeded notify#1",
            "StepSucceeded label#1",
            "StepSucceeded reserve#1",
            "StepDispatched ship#1",
            "StepFailed ship#1",
            "CompensationDispatched reserve",
            "CompensationSucceeded reserve",
            "CompensationDispatched label",
            "CompensationFailed label",
            "CompensationDispatched charge",
            "CompensationSucceeded charge",
            "ExecutionFinished Failed",
        ],
        ExecutionStatus.Failed,
        "step 'ship' failed: exit code 1; compensation of step 'label' failed: label already printed",
        Steps(("reserve", StepStatus.Succeeded), ("label", StepStatus.Succeeded), ("ship", StepStatus.Failed)));

    private static Scenario Cancel() => new(
        "cancel",
        "A cancel with a running, a retrying, a waiting and a pending step: the running job is cancelled, the rest is "
        + "cancelled at once, the succeeded step is compensated, the execution ends Cancelled.",
        Plan(
            Step("prepare") with { HasCompensation = true },
            Step("build", "prepare"),
            Step("flaky", "prepare") with { Retry = Backoff(3, "1s", "10s") },
            Step("gate", "prepare") with { Kind = StepKind.Approval },
            Step("deploy", "build", "flaky", "gate")),
        [
            Ok(Succeeded("prepare", 1)),
            Ok(new StepStarted("build", 1, "runner-1")),
            Ok(Failed("flaky", 1, 1)),
            Ok(new CancelRequested("stopped by alice")),
            Refused(new CancelRequested("again")),
            Refused(new TimerFired("retry:flaky:2")),
            Refused(new SignalReceived("gate", None)),
            Ok(new StepCancelled("build", 1)),
            Refused(new StepCancelled("build", 1)),
            Ok(new CompensationSucceeded("prepare")),
        ],
        [
            "ExecutionStarted",
            "StepDispatched prepare#1",
            "StepSucceeded prepare#1",
            "StepDispatched build#1",
            "StepDispatched flaky#1",
            "ApprovalRequested gate",
            "StepStarted build#1",
            "StepFailed flaky#1",
            "TimerScheduled retry:flaky:2 1s",
            "CancelRequested",
            "JobCancelRequested build#1",
            "StepCancelled build#1",
            "CompensationDispatched prepare",
            "CompensationSucceeded prepare",
            "ExecutionFinished Cancelled",
        ],
        ExecutionStatus.Cancelled,
        "stopped by alice",
        Steps(
            ("prepare", StepStatus.Succeeded),
            ("build", StepStatus.Cancelled),
            ("flaky", StepStatus.Cancelled),
            ("gate", StepStatus.Cancelled),
            ("deploy", StepStatus.Cancelled)));

    private static Scenario CancelRacingSuccess() => new(
        "cancel-racing-success",
        "The job finishes before the cancel reaches it: the success is admitted (and compensated), the execution ends Cancelled.",
        Plan(Step("migrate") with { HasCompensation = true }, Step("deploy", "migrate")),
        [
            Ok(new StepStarted("migrate", 1, "runner-1")),
            Ok(new CancelRequested(null)),
            Ok(Succeeded("migrate", 1)),
            Ok(new CompensationSucceeded("migrate")),
            Refused(new StepCancelled("migrate", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched migrate#1",
            "StepStarted migrate#1",
            "CancelRequested",
            "JobCancelRequested migrate#1",
            "StepSucceeded migrate#1",
            "CompensationDispatched migrate",
            "CompensationSucceeded migrate",
            "ExecutionFinished Cancelled",
        ],
        ExecutionStatus.Cancelled,
        null,
        Steps(("migrate", StepStatus.Succeeded), ("deploy", StepStatus.Cancelled)));

    private static Scenario ApprovalGranted() => new(
        "approval-granted",
        "An approval step waits for the signal named after it; the payload becomes its outputs; its timeout timer goes stale.",
        Plan(
            Step("build"),
            Step("approve", "build") with { Kind = StepKind.Approval, Timeout = Duration("1h") },
            Step("deploy", "approve")),
        [
            Refused(new SignalReceived("approve", None)),
            Ok(Succeeded("build", 1)),
            Refused(new SignalReceived("build", None)),
            Ok(new SignalReceived("approve", new Dictionary<string, string> { ["approved_by"] = "alice" })),
            Refused(new TimerFired("approval-timeout:approve")),
            Refused(new SignalReceived("approve", None)),
            Ok(Succeeded("deploy", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched build#1",
            "StepSucceeded build#1",
            "ApprovalRequested approve",
            "TimerScheduled approval-timeout:approve 1h",
            "SignalReceived approve",
            "StepDispatched deploy#1",
            "StepSucceeded deploy#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("approve", StepStatus.Succeeded), ("deploy", StepStatus.Succeeded)));

    private static Scenario ApprovalTimedOut() => new(
        "approval-timed-out",
        "No signal within the approval's timeout: the step fails (never retried) and the execution fails.",
        Plan(
            Step("approve") with { Kind = StepKind.Approval, Timeout = Duration("1h"), Retry = Backoff(3, "1s", "1s") },
            Step("deploy", "approve")),
        [
            Ok(new TimerFired("approval-timeout:approve")),
            Refused(new SignalReceived("approve", None)),
        ],
        [
            "ExecutionStarted",
            "ApprovalRequested approve",
            "TimerScheduled approval-timeout:approve 1h",
            "TimerFired approval-timeout:approve",
            "ExecutionFinished Failed",
        ],
        ExecutionStatus.Failed,
        "step 'approve' failed: no approval within 1h",
        Steps(("approve", StepStatus.Failed), ("deploy", StepStatus.Skipped)));

    private static Scenario ExecutionTimeout() => new(
        "execution-timeout",
        "The execution's own timeout fires: the running job is cancelled, the succeeded step compensated, the execution ends Failed.",
        Plan(Step("provision") with { HasCompensation = true }, Step("test", "provision"), Step("report", "test")) with
        {
            Timeout = Duration("1h"),
        },
        [
            Ok(Succeeded("provision", 1)),
            Ok(new StepStarted("test", 1, "runner-1")),
            Ok(new TimerFired("execution-timeout")),
            Refused(new CancelRequested("too late")),
            Ok(new StepCancelled("test", 1)),
            Ok(new CompensationSucceeded("provision")),
        ],
        [
            "ExecutionStarted",
            "TimerScheduled execution-timeout 1h",
            "StepDispatched provision#1",
            "StepSucceeded provision#1",
            "StepDispatched test#1",
            "StepStarted test#1",
            "TimerFired execution-timeout",
            "JobCancelRequested test#1",
            "StepCancelled test#1",
            "CompensationDispatched provision",
            "CompensationSucceeded provision",
            "ExecutionFinished Failed",
        ],
        ExecutionStatus.Failed,
        "execution timed out after 1h",
        Steps(("provision", StepStatus.Succeeded), ("test", StepStatus.Cancelled), ("report", StepStatus.Cancelled)));

    private static Scenario RetryOfFailedExecution() => new(
        "retry-execution",
        "A failed execution is retried: succeeded steps keep their outputs, the failed step runs again with the next "
        + "attempt numbers and a fresh retry budget.",
        Plan(Step("build"), Step("deploy", "build") with { Retry = Backoff(2, "1s", "10s") }),
        [
            Ok(Succeeded("build", 1, new Dictionary<string, string> { ["image"] = "app:1" })),
            Ok(Failed("deploy", 1, 1)),
            Ok(new TimerFired("retry:deploy:2")),
            Ok(Failed("deploy", 2, 1)),
            Refused(Succeeded("deploy", 2)),
            Ok(new RetryRequested()),
            Refused(new RetryRequested()),
            Ok(Failed("deploy", 3, 1)),
            Ok(new TimerFired("retry:deploy:4")),
            Ok(Succeeded("deploy", 4)),
            Refused(new RetryRequested()),
        ],
        [
            "ExecutionStarted",
            "StepDispatched build#1",
            "StepSucceeded build#1",
            "StepDispatched deploy#1",
            "StepFailed deploy#1",
            "TimerScheduled retry:deploy:2 1s",
            "TimerFired retry:deploy:2",
            "StepDispatched deploy#2",
            "StepFailed deploy#2",
            "ExecutionFinished Failed",
            "RetryRequested",
            "StepDispatched deploy#3",
            "StepFailed deploy#3",
            "TimerScheduled retry:deploy:4 1s",
            "TimerFired retry:deploy:4",
            "StepDispatched deploy#4",
            "StepSucceeded deploy#4",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("build", StepStatus.Succeeded), ("deploy", StepStatus.Succeeded)));

    private static Scenario Conditions() => new(
        "if",
        "Steps with if: conditions, judged when they are ready: one on the input is false, so the step is skipped (its "
        + "dependent runs anyway); one on a previous step's outputs is true, so the step runs; a skip from outside is refused.",
        Plan(
            Step("test"),
            Step("notify-prod", "test") with { Condition = "inputs.environment == 'prod'" },
            Step("deploy", "test") with { Condition = "${{ steps.test.outputs.passed == 'true' && steps.test.status == 'succeeded' }}" },
            Step("report", "notify-prod", "deploy")),
        [
            Refused(new StepSkipped("notify-prod", "not ready yet")),
            Ok(Succeeded("test", 1, new Dictionary<string, string> { ["passed"] = "true" })),
            Refused(new StepSkipped("deploy", "its condition is true")),
            Refused(new StepSkipped("report", "it has no condition")),
            Refused(Succeeded("notify-prod", 1)),
            Ok(Succeeded("deploy", 1)),
            Ok(Succeeded("report", 1)),
        ],
        [
            "ExecutionStarted",
            "StepDispatched test#1",
            "StepSucceeded test#1",
            "StepSkipped notify-prod",
            "StepDispatched deploy#1",
            "StepSucceeded deploy#1",
            "StepDispatched report#1",
            "StepSucceeded report#1",
            "ExecutionFinished Succeeded",
        ],
        ExecutionStatus.Succeeded,
        null,
        Steps(("test", StepStatus.Succeeded), ("notify-prod", StepStatus.Skipped), ("deploy", StepStatus.Succeeded), ("report", StepStatus.Succeeded)))
    {
        Input = Json("""{"environment": "staging"}"""),
    };

    // ---- building blocks ----

    private static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static ExecutionPlan Plan(params PlannedStep[] steps) => new(steps);

    private static PlannedStep Step(string name, params string[] dependsOn) => new(name, dependsOn);

    private static RetryPolicy Backoff(int maxAttempts, string initial, string max, double multiplier = 2.0, int[]? nonRetryable = null) =>
        new(maxAttempts, Duration(initial), Duration(max), multiplier, false, nonRetryable ?? []);

    /// <summary>"500ms", "30s", "5m", "1h".</summary>
    private static TimeSpan Duration(string text)
    {
        var unitStart = text.IndexOfAny(['m', 's', 'h']);
        var amount = long.Parse(text.AsSpan(0, unitStart), CultureInfo.InvariantCulture);
        return text[unitStart..] switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            _ => throw new FormatException($"not a duration: '{text}'"),
        };
    }

    private static ScenarioInput Ok(ExecutionEvent e) => new(e);

    private static ScenarioInput Refused(ExecutionEvent e) => new(e, Admitted: false);

    private static StepSucceeded Succeeded(string step, int attempt, IReadOnlyDictionary<string, string>? outputs = null) =>
        new(step, attempt, 0, outputs ?? None);

    private static StepFailed Failed(string step, int attempt, int exitCode) => new(step, attempt, exitCode, "");

    private static Dictionary<string, StepStatus> Steps(params (string Step, StepStatus Status)[] steps) =>
        steps.ToDictionary(s => s.Step, s => s.Status, StringComparer.Ordinal);
}
