using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Messaging;
using Platform.Execution.Temporal.Tests.Replay;

namespace Platform.Execution.Temporal.Tests;

/// <summary>Pinned plans, workflow inputs and the signals the engine sends, for one execution under test.</summary>
internal static class Executions
{
    public static readonly Guid Id = Guid.Parse("01950000-0000-7000-8000-00000000e1e1");
    public static readonly Guid WorkflowId = Guid.Parse("01950000-0000-7000-8000-00000000f1f1");
    public static readonly Guid RunnerId = Guid.Parse("01950000-0000-7000-8000-0000000000a1");
    public static readonly DateTimeOffset At = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    public const string InputJson = """{"version":"1.2","region":"eu"}""";

    public static AgentSnapshot Agent(string name) => new(
        Guid.Empty, name, ["run", name], "registry.local/" + name + ":1", new Dictionary<string, string> { ["STAGE"] = name }, ["linux"]);

    public static PinnedStep Step(string name, params string[] dependsOn) => new(name, dependsOn, Agent(name), null);

    public static PinnedWorkflow Plan(params PinnedStep[] steps) => new(WorkflowId, 3, "deploy-app", false, steps);

    public static ExecutionWorkflowInput Input(PinnedWorkflow plan) => new(Id, plan, InputJson);

    public static JsonElement Json(string json) => JsonSerializer.Deserialize<JsonElement>(json);

    public static PinnedRetry Retry(int maxAttempts, int initialMs, int maxMs, bool jitter = false) =>
        new(maxAttempts, initialMs, maxMs, 2.0, jitter, []);

    // ---- the signals TemporalExecutionEngine sends for what the job-events consumer and the API hand it ----

    public static OutgoingSignal Started(string step, int attempt = 1) =>
        One([JobResults.Started(step, attempt, RunnerId, At, 1)]);

    public static OutgoingSignal Succeeded(string step, int attempt = 1, IReadOnlyDictionary<string, string>? outputs = null) =>
        Finished(ExecutionEngine.JobId(Id, step, attempt), step, attempt, JobResultKind.Succeeded, 0, outputs);

    public static OutgoingSignal Failed(string step, int attempt = 1, int exitCode = 1) =>
        Finished(ExecutionEngine.JobId(Id, step, attempt), step, attempt, JobResultKind.Failed, exitCode);

    public static OutgoingSignal Cancelled(string step, int attempt = 1) =>
        Finished(ExecutionEngine.JobId(Id, step, attempt), step, attempt, JobResultKind.Cancelled, null);

    public static OutgoingSignal Compensated(string step, int attempt = 1) =>
        Finished(ExecutionEngine.CompensationJobId(Id, step, attempt), step, attempt, JobResultKind.Succeeded, 0);

    public static OutgoingSignal Cancel(string reason) => One([(new CancelRequested(reason), null)]);

    public static OutgoingSignal Approve(string step, IReadOnlyDictionary<string, string> payload) => One([(new SignalReceived(step, payload), null)]);

    public static OutgoingSignal RetryExecution() => One([(new RetryRequested(), null)]);

    public static HistoryBuilder Signal(this HistoryBuilder history, OutgoingSignal signal) => history.Signal(signal.Name, signal.Payload);

    private static OutgoingSignal Finished(Guid jobId, string step, int attempt, JobResultKind kind, int? exitCode,
        IReadOnlyDictionary<string, string>? outputs = null) =>
        One(JobResults.Finished(Id, new JobResult(jobId, step, attempt, 1, RunnerId, At, kind, exitCode,
            outputs ?? new Dictionary<string, string>(), kind == JobResultKind.Failed ? "" : null, "last line", At.AddSeconds(5))));

    private static OutgoingSignal One(IReadOnlyList<(ExecutionEvent, JsonObject?)> facts) =>
        TemporalExecutionEngine.Signals(facts, "bus:" + Guid.NewGuid()).Single();
}
