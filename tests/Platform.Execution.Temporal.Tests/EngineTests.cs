using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.BuildingBlocks.Messaging;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Temporalio.Client;
using Temporalio.Converters;
using Temporalio.Extensions.Hosting;
using static Platform.Execution.Temporal.Tests.Executions;

namespace Platform.Execution.Temporal.Tests;

/// <summary>The engine's side without a server: facts → signals, what crosses Temporal's JSON, ids, registration.</summary>
public class EngineTests
{
    private static readonly IPayloadConverter Converter = DataConverter.Default.PayloadConverter;

    [Fact]
    public void A_job_end_with_its_start_is_one_JobFinished_signal_carrying_both_events_with_their_details()
    {
        var signal = Succeeded("build", 2, new Dictionary<string, string> { ["image"] = "app:2" });

        Assert.Equal(ExecutionWorkflow.JobFinishedSignalName, signal.Name);
        var payload = Assert.IsType<JobEventsSignal>(signal.Payload);
        Assert.StartsWith("bus:", payload.MessageId, StringComparison.Ordinal);
        Assert.Equal([HistoryCodec.StepStartedType, HistoryCodec.StepSucceededType], payload.Events.Select(e => e.Type));
        var succeeded = Assert.IsType<StepSucceeded>(HistoryCodec.Decode(payload.Events[1]));
        Assert.Equal(("build", 2, "app:2"), (succeeded.Step, succeeded.Attempt, succeeded.Outputs["image"]));
        Assert.Equal("last line", (string?)payload.Events[1].Data["output_tail"]);
    }

    [Fact]
    public void Each_kind_of_fact_goes_to_its_signal()
    {
        Assert.Equal(ExecutionWorkflow.JobStartedSignalName, Started("build").Name);
        Assert.Equal([HistoryCodec.CompensationSucceededType], Assert.IsType<JobEventsSignal>(Compensated("prepare").Payload).Events.Select(e => e.Type));
        Assert.Equal(new CancelSignal("stop", "m"), OnlySignal([(new CancelRequested("stop"), null)]).Payload);
        Assert.Equal(new RetrySignal("m"), OnlySignal([(new RetryRequested(), null)]).Payload);
        var approval = Assert.IsType<ApprovalSignal>(OnlySignal([(new SignalReceived("approve", new Dictionary<string, string> { ["by"] = "al" }), null)]).Payload);
        Assert.Equal(("approve", "al", "m"), (approval.Name, approval.Payload["by"], approval.MessageId));
    }

    [Fact]
    public void Facts_of_one_message_of_different_kinds_go_in_order_each_with_its_own_message_id()
    {
        var signals = TemporalExecutionEngine.Signals(
            [(new StepStarted("a", 1, "r"), null), (new StepFailed("a", 1, 2, ""), null), (new CancelRequested(null), null)], "m");

        Assert.Equal([ExecutionWorkflow.JobFinishedSignalName, ExecutionWorkflow.CancelSignalName], signals.Select(s => s.Name));
        Assert.Equal("m/0", ((JobEventsSignal)signals[0].Payload).MessageId);
        Assert.Equal("m/1", ((CancelSignal)signals[1].Payload).MessageId);
    }

    [Fact]
    public void A_timer_firing_is_never_sent_from_outside()
    {
        Assert.Throws<ArgumentException>(() => TemporalExecutionEngine.Signals([(new TimerFired("retry:a:2"), null)], "m"));
    }

    [Fact]
    public void The_workflow_input_crosses_Temporals_JSON_intact()
    {
        var plan = Plan(
            Step("build") with
            {
                With = Json("""{"tag":"${{ inputs.version }}","n":3}"""),
                Retry = new PinnedRetry(3, 1000, 8000, 2.5, true, [2, 78]),
                TimeoutMs = 30_000,
                Condition = "${{ inputs.region == 'eu' }}",
                ContinueOnFailure = true,
                Compensation = new PinnedCompensation(Agent("undo"), Json("""{"x":1}""")),
            },
            Step("gate", "build") with { Type = "approval", TimeoutMs = 3_600_000 }) with { TimeoutMs = 7_200_000 };
        var input = Input(plan) with { ContinueAsNewAfterEvents = 500, RetryWindow = TimeSpan.FromDays(2) };

        var back = Converter.ToValue<ExecutionWorkflowInput>(Converter.ToPayload(input));

        AssertSameJson(input, back);
        Assert.Equal(plan.ToPlan().Steps.Select(s => (s.Name, s.Kind, s.Timeout, s.HasCompensation, s.Retry?.Jitter)),
            back.Plan.ToPlan().Steps.Select(s => (s.Name, s.Kind, s.Timeout, s.HasCompensation, s.Retry?.Jitter)));
        Assert.Equal(2.5, back.Plan.Steps[0].Retry!.Multiplier);
        Assert.Equal("3", back.Plan.Steps[0].With!.Value.GetProperty("n").GetRawText());
    }

    [Fact]
    public void Signals_and_the_history_query_cross_Temporals_JSON_intact()
    {
        var signal = (JobEventsSignal)Failed("build", 1, exitCode: 2).Payload;
        var signalBack = Converter.ToValue<JobEventsSignal>(Converter.ToPayload(signal));
        AssertSameJson(signal, signalBack);
        Assert.Equal(new StepFailed("build", 1, 2, ""), HistoryCodec.Decode(signalBack.Events[1]));

        var stored = HistoryCodec.Encode(new StepSucceeded("a", 1, 0, new Dictionary<string, string> { ["k"] = "v" }),
            new JsonObject { ["finished_at"] = At });
        IReadOnlyList<HistoryEntry> history = [new HistoryEntry(1, stored.Type, At, stored.Step, stored.Attempt, stored.Data)];
        var historyBack = Converter.ToValue<IReadOnlyList<HistoryEntry>>(Converter.ToPayload(history));
        AssertSameJson(history, historyBack);
    }

    [Fact]
    public void An_idempotency_key_names_one_execution_per_workflow()
    {
        var a = TemporalExecutionEngine.ExecutionIdFor(WorkflowId, "order-42");

        Assert.Equal(a, TemporalExecutionEngine.ExecutionIdFor(WorkflowId, "order-42"));
        Assert.NotEqual(a, TemporalExecutionEngine.ExecutionIdFor(WorkflowId, "order-43"));
        Assert.NotEqual(a, TemporalExecutionEngine.ExecutionIdFor(Id, "order-42"));
    }

    [Fact]
    public void Engine_temporal_registers_the_client_the_worker_the_activities_and_the_engine_and_no_embedded_worker()
    {
        using var host = ExecutionHost(new() { ["Execution:Engine"] = "temporal", ["Temporal:Address"] = "temporal.internal:7233" });

        var options = host.Services.GetRequiredService<IOptions<TemporalEngineOptions>>().Value;
        Assert.Equal(("temporal.internal:7233", "default", "platform-executions"), (options.Address, options.Namespace, options.TaskQueue));
        Assert.IsType<TemporalExecutionEngine>(host.Services.GetRequiredService<IExecutionEngine>());
        var client = host.Services.GetRequiredService<ITemporalClient>(); // lazy: no connection is made here
        Assert.Equal(("temporal.internal:7233", "default"), (client.Connection.Options.TargetHost, client.Options.Namespace));
        var workers = host.Services.GetServices<IHostedService>().Select(s => s.GetType().Name).ToList();
        Assert.Contains(nameof(TemporalWorkerHost), workers);
        Assert.Contains("Reconciler", workers);
        Assert.DoesNotContain("DispatchRelay", workers);
        Assert.DoesNotContain("TimerWorker", workers);
        var worker = TemporalWorkerHost.WorkerOptions(options.TaskQueue, host.Services.GetRequiredService<ExecutionActivities>());
        Assert.Equal(nameof(ExecutionWorkflow), Assert.Single(worker.Workflows).Name);
        Assert.Equal([ExecutionActivities.CancelJobsName, ExecutionActivities.EnqueueJobsName, ExecutionActivities.RecordDecisionName],
            worker.Activities.Select(a => a.Name).Order());
    }

    [Fact]
    public void The_default_engine_is_the_embedded_one_with_its_workers_and_no_Temporal_worker()
    {
        using var host = ExecutionHost([]);

        Assert.IsType<ExecutionEngine>(host.Services.GetRequiredService<IExecutionEngine>());
        var workers = host.Services.GetServices<IHostedService>().Select(s => s.GetType().Name).ToList();
        Assert.Contains("DispatchRelay", workers);
        Assert.Contains("TimerWorker", workers);
        Assert.DoesNotContain(nameof(TemporalWorkerHost), workers);
    }

    [Fact]
    public void An_unknown_engine_is_refused_at_start_with_the_names_that_are_known()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ExecutionHost(new() { ["Execution:Engine"] = "cadence" }));
        Assert.Contains("'embedded' or 'temporal'", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The Execution context as a host builds it (not started: nothing connects).</summary>
    private static IHost ExecutionHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        settings["ConnectionStrings:Platform"] = "Host=127.0.0.1;Database=unused";
        settings["Messaging:Transport"] = "inmemory";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddExecutionWithEngine();
        builder.AddPlatformMessaging(ExecutionModule.AddExecutionConsumers);
        return builder.Build();
    }

    private static void AssertSameJson<T>(T expected, T actual) =>
        Assert.True(JsonNode.DeepEquals(JsonSerializer.SerializeToNode(expected), JsonSerializer.SerializeToNode(actual)),
            $"{JsonSerializer.Serialize(expected)}\n!=\n{JsonSerializer.Serialize(actual)}");

    private static OutgoingSignal OnlySignal(IReadOnlyList<(ExecutionEvent, JsonObject?)> facts) =>
        Assert.Single(TemporalExecutionEngine.Signals(facts, "m"));

    private sealed class NoCatalog : IWorkflowCatalog
    {
        public Task<PinnedWorkflow> ResolveAsync(Guid workflowId, int revision, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }
}
