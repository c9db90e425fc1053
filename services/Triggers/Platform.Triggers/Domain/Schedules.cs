namespace Platform.Triggers.Domain;

/// <summary>A schedule as stored (times in UTC).</summary>
public sealed record ScheduleRecord(
    Guid Id,
    Guid WorkflowId,
    string TeamId,
    string Cron,
    string Interval,
    string Timezone,
    string Input,
    string Overlap,
    string CatchUp,
    DateTime? StartAt,
    DateTime? EndAt,
    bool Paused,
    DateTime? NextFireAt,
    DateTime? BufferedSlot,
    DateTime CreatedAt)
{
    public ScheduleTiming Timing() =>
        ScheduleTiming.Create(Cron, Interval, Timezone, Utc(CreatedAt), Utc(StartAt), Utc(EndAt));

    public static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc), TimeSpan.Zero);

    public static DateTimeOffset? Utc(DateTime? time) => time is { } t ? Utc(t) : null;
}

/// <summary>One handled slot of a schedule.</summary>
public sealed record FireRecord(DateTime SlotTime, string Outcome, Guid? ExecutionId, DateTime FiredAt, DateTime? FinishedAt);

public static class FireOutcomes
{
    public const string Started = "started";
    public const string Skipped = "skipped";
    public const string Buffered = "buffered";
    public const string CancelledPrevious = "cancelled_previous";

    /// <summary>Execution refused the start for good (the workflow is archived or gone).</summary>
    public const string Failed = "failed";
}
