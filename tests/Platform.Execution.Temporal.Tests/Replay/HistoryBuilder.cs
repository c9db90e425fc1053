using Google.Protobuf.WellKnownTypes;
using Temporalio.Api.Common.V1;
using Temporalio.Api.Enums.V1;
using Temporalio.Api.Failure.V1;
using Temporalio.Api.History.V1;
using Temporalio.Api.Sdk.V1;
using Temporalio.Api.TaskQueue.V1;
using Temporalio.Common;
using Temporalio.Converters;

namespace Platform.Execution.Temporal.Tests.Replay;

/// <summary>
/// Builds a Temporal workflow history event by event, as a live worker and server would have written it, for
/// <c>WorkflowReplayer</c>. What the replayer needs (DESIGN §3): ids 1..n; the task queue and a workflow task timeout
/// on <c>WorkflowExecutionStarted</c> (without them a replay hangs); on the first <c>WorkflowTaskCompleted</c> the
/// SDK flags a live worker writes (core 1, 2, 3; lang 2), or renamed activities go unnoticed; and an end: a completed
/// workflow task or the workflow's completion.
/// </summary>
/// <remarks>
/// Commands the workflow issues in a workflow task follow <see cref="WorkflowTask"/>: <see cref="ScheduleActivity"/>,
/// <see cref="Record"/>, <see cref="StartTimer"/>, <see cref="CancelTimer"/>, <see cref="Complete"/>,
/// <see cref="ContinueAsNew"/>. Facts from outside come before the next workflow task: <see cref="CompleteActivity"/>,
/// <see cref="FailActivity"/>, <see cref="FireTimer"/>, <see cref="Signal"/>. Activity and timer ids are sequence
/// numbers, as the SDK assigns them. The <c>RecordDecision</c> activities (<see cref="Record"/>) complete before the
/// next fact: the builder writes their completion itself (and, before the workflow's end, the workflow task that sees
/// it).
/// </remarks>
public sealed class HistoryBuilder
{
    public const string TaskQueueName = "platform-executions";

    private static readonly IPayloadConverter Converter = DataConverter.Default.PayloadConverter;

    private readonly string workflowId;
    private readonly List<HistoryEvent> events = [];
    private DateTime clock = new(2026, 1, 5, 9, 0, 0, DateTimeKind.Utc);
    private long lastTaskCompleted;
    private bool flagsWritten;
    private int activitySequence;
    private int timerSequence;
    private readonly List<long> pendingRecords = [];

    /// <summary>Starts the history: <c>WorkflowExecutionStarted</c> with this argument, then the first workflow task.</summary>
    /// <param name="start">When the run starts (default 2026-01-05 09:00 UTC); each event is 5 ms after the one before.</param>
    public HistoryBuilder(string workflowId, object? argument, DateTime? start = null, string workflowType = nameof(ExecutionWorkflow))
    {
        this.workflowId = workflowId;
        clock = start ?? clock;
        var runId = Guid.NewGuid().ToString();
        Add(EventType.WorkflowExecutionStarted, e => e.WorkflowExecutionStartedEventAttributes = new()
        {
            WorkflowType = new WorkflowType { Name = workflowType },
            TaskQueue = new TaskQueue { Name = TaskQueueName, Kind = TaskQueueKind.Normal },
            Input = Payloads(argument),
            WorkflowTaskTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            OriginalExecutionRunId = runId,
            FirstExecutionRunId = runId,
            Attempt = 1,
            FirstWorkflowTaskBackoff = Duration.FromTimeSpan(TimeSpan.Zero),
        });
        WorkflowTask();
    }

    /// <summary>The number of events so far (the next event's id minus one).</summary>
    public int Count => events.Count;

    /// <summary>A workflow task: scheduled, started, completed. The commands the workflow issued in it come next.</summary>
    public HistoryBuilder WorkflowTask()
    {
        var scheduled = Add(EventType.WorkflowTaskScheduled, e => e.WorkflowTaskScheduledEventAttributes = new()
        {
            TaskQueue = new TaskQueue { Name = TaskQueueName, Kind = TaskQueueKind.Normal },
            StartToCloseTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            Attempt = 1,
        });
        var started = Add(EventType.WorkflowTaskStarted, e => e.WorkflowTaskStartedEventAttributes = new()
        {
            ScheduledEventId = scheduled,
            Identity = "replay-test",
            RequestId = Guid.NewGuid().ToString(),
        });
        lastTaskCompleted = Add(EventType.WorkflowTaskCompleted, e =>
        {
            e.WorkflowTaskCompletedEventAttributes = new()
            {
                ScheduledEventId = scheduled,
                StartedEventId = started,
                Identity = "replay-test",
                SdkMetadata = new WorkflowTaskCompletedMetadata(),
            };
            if (!flagsWritten)
            {
                e.WorkflowTaskCompletedEventAttributes.SdkMetadata.CoreUsedFlags.Add([1, 2, 3]);
                e.WorkflowTaskCompletedEventAttributes.SdkMetadata.LangUsedFlags.Add(2);
                flagsWritten = true;
            }
        });
        return this;
    }

    /// <summary>The workflow scheduled an activity (a command). Returns its scheduled event id.</summary>
    public long ScheduleActivity(string activityType, object? argument)
    {
        var id = (++activitySequence).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Add(EventType.ActivityTaskScheduled, e => e.ActivityTaskScheduledEventAttributes = new()
        {
            ActivityId = id,
            ActivityType = new ActivityType { Name = activityType },
            TaskQueue = new TaskQueue { Name = TaskQueueName, Kind = TaskQueueKind.Normal },
            Input = Payloads(argument),
            StartToCloseTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(30)),
            ScheduleToCloseTimeout = Duration.FromTimeSpan(TimeSpan.Zero),
            ScheduleToStartTimeout = Duration.FromTimeSpan(TimeSpan.Zero),
            HeartbeatTimeout = Duration.FromTimeSpan(TimeSpan.Zero),
            WorkflowTaskCompletedEventId = lastTaskCompleted,
        });
    }

    /// <summary>The workflow handed its new entries to the read model (the <c>RecordDecision</c> activity, a command).</summary>
    public HistoryBuilder Record()
    {
        pendingRecords.Add(ScheduleActivity(ExecutionActivities.RecordDecisionName, null));
        return this;
    }

    /// <summary>The activity ran and returned (no result: the activities here return nothing).</summary>
    public HistoryBuilder CompleteActivity(long scheduled)
    {
        CompleteRecords();
        var started = StartActivity(scheduled);
        Add(EventType.ActivityTaskCompleted, e => e.ActivityTaskCompletedEventAttributes = new()
        {
            ScheduledEventId = scheduled,
            StartedEventId = started,
            Identity = "replay-test",
        });
        return this;
    }

    /// <summary>The activity failed for good with a non-retryable application failure.</summary>
    public HistoryBuilder FailActivity(long scheduled, string message, string errorType)
    {
        CompleteRecords();
        var started = StartActivity(scheduled);
        Add(EventType.ActivityTaskFailed, e => e.ActivityTaskFailedEventAttributes = new()
        {
            ScheduledEventId = scheduled,
            StartedEventId = started,
            Identity = "replay-test",
            RetryState = RetryState.NonRetryableFailure,
            Failure = new Failure
            {
                Message = message,
                ApplicationFailureInfo = new ApplicationFailureInfo { Type = errorType, NonRetryable = true },
            },
        });
        return this;
    }

    /// <summary>The workflow started a durable timer (a command). Returns its started event id.</summary>
    public long StartTimer(TimeSpan delay)
    {
        var id = (++timerSequence).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Add(EventType.TimerStarted, e => e.TimerStartedEventAttributes = new()
        {
            TimerId = id,
            StartToFireTimeout = Duration.FromTimeSpan(delay),
            WorkflowTaskCompletedEventId = lastTaskCompleted,
        });
    }

    /// <summary>The timer fired (the clock moves on by its delay).</summary>
    public HistoryBuilder FireTimer(long started)
    {
        CompleteRecords();
        var timer = Find(started).TimerStartedEventAttributes;
        clock += timer.StartToFireTimeout.ToTimeSpan();
        Add(EventType.TimerFired, e => e.TimerFiredEventAttributes = new() { TimerId = timer.TimerId, StartedEventId = started });
        return this;
    }

    /// <summary>The workflow cancelled a timer it had started (a command).</summary>
    public HistoryBuilder CancelTimer(long started)
    {
        var timer = Find(started).TimerStartedEventAttributes;
        Add(EventType.TimerCanceled, e => e.TimerCanceledEventAttributes = new()
        {
            TimerId = timer.TimerId,
            StartedEventId = started,
            WorkflowTaskCompletedEventId = lastTaskCompleted,
            Identity = "replay-test",
        });
        return this;
    }

    /// <summary>A signal arrived with one argument.</summary>
    public HistoryBuilder Signal(string name, object argument)
    {
        CompleteRecords();
        Add(EventType.WorkflowExecutionSignaled, e => e.WorkflowExecutionSignaledEventAttributes = new()
        {
            SignalName = name,
            Input = Payloads(argument),
            Identity = "replay-test",
        });
        return this;
    }

    /// <summary>The workflow completed with this result (a command; the history's last event).</summary>
    public HistoryBuilder Complete(object? result)
    {
        if (pendingRecords.Count > 0)
        {
            // The workflow ends only once its activities have: their completion wakes it one more time.
            CompleteRecords();
            WorkflowTask();
        }

        Add(EventType.WorkflowExecutionCompleted, e => e.WorkflowExecutionCompletedEventAttributes = new()
        {
            Result = Payloads(result),
            WorkflowTaskCompletedEventId = lastTaskCompleted,
        });
        return this;
    }

    /// <summary>The workflow continued as new with this argument (a command; the history's last event).</summary>
    public HistoryBuilder ContinueAsNew(object? argument)
    {
        if (pendingRecords.Count > 0)
        {
            CompleteRecords();
            WorkflowTask();
        }

        Add(EventType.WorkflowExecutionContinuedAsNew, e => e.WorkflowExecutionContinuedAsNewEventAttributes = new()
        {
            NewExecutionRunId = Guid.NewGuid().ToString(),
            WorkflowType = new WorkflowType { Name = nameof(ExecutionWorkflow) },
            TaskQueue = new TaskQueue { Name = TaskQueueName, Kind = TaskQueueKind.Normal },
            Input = Payloads(argument),
            WorkflowTaskTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            WorkflowTaskCompletedEventId = lastTaskCompleted,
        });
        return this;
    }

    public WorkflowHistory Build() => new(workflowId, events.Select(e => e.Clone()).ToList());

    /// <summary>The <c>RecordDecision</c> activities scheduled so far ran (the builder writes this by itself before the
    /// next fact; a history that ends in a workflow task woken only by them says it here).</summary>
    public HistoryBuilder RecordsComplete()
    {
        CompleteRecords();
        return this;
    }

    private void CompleteRecords()
    {
        var pending = pendingRecords.ToArray();
        pendingRecords.Clear();
        foreach (var scheduled in pending)
        {
            CompleteActivity(scheduled);
        }
    }

    private long StartActivity(long scheduled) =>
        Add(EventType.ActivityTaskStarted, e => e.ActivityTaskStartedEventAttributes = new()
        {
            ScheduledEventId = scheduled,
            Identity = "replay-test",
            RequestId = Guid.NewGuid().ToString(),
            Attempt = 1,
        });

    private HistoryEvent Find(long eventId) => events[(int)eventId - 1];

    private long Add(EventType type, Action<HistoryEvent> attributes)
    {
        clock += TimeSpan.FromMilliseconds(5);
        var e = new HistoryEvent
        {
            EventId = events.Count + 1,
            EventTime = Timestamp.FromDateTime(clock),
            EventType = type,
            TaskId = 1_048_576 + events.Count,
        };
        attributes(e);
        events.Add(e);
        return e.EventId;
    }

    private static Payloads Payloads(object? argument)
    {
        var payloads = new Payloads();
        if (argument is not null)
        {
            payloads.Payloads_.Add(Converter.ToPayload(argument));
        }

        return payloads;
    }
}
