using System.Text;
using Platform.RunnerRegistry.Contracts;

namespace Platform.RunnerRegistry.Domain;

/// <summary>The life of a job: queued → leased → running → succeeded | failed | cancelled; a lapsed lease puts a
/// leased or running job back to queued, and its next lease has attempt + 1. Cancelling a queued job ends it at once;
/// cancelling a held one records the request, and the job ends cancelled when its runner reports it or its lease
/// ends without a report.</summary>
public enum JobStatus
{
    Queued,
    Leased,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

public static class JobStatuses
{
    public static string ToDb(this JobStatus status) => status switch
    {
        JobStatus.Queued => "queued",
        JobStatus.Leased => "leased",
        JobStatus.Running => "running",
        JobStatus.Succeeded => "succeeded",
        JobStatus.Failed => "failed",
        JobStatus.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static JobStatus FromDb(string state) => state switch
    {
        "queued" => JobStatus.Queued,
        "leased" => JobStatus.Leased,
        "running" => JobStatus.Running,
        "succeeded" => JobStatus.Succeeded,
        "failed" => JobStatus.Failed,
        "cancelled" => JobStatus.Cancelled,
        _ => throw new InvalidOperationException($"unknown job state '{state}'"),
    };

    /// <summary>The outcome <see cref="JobFinished"/> carries for a finished job.</summary>
    public static JobOutcome ToOutcome(this JobStatus status) => status switch
    {
        JobStatus.Succeeded => JobOutcome.Succeeded,
        JobStatus.Failed => JobOutcome.Failed,
        JobStatus.Cancelled => JobOutcome.Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "the job has not finished"),
    };

    public static bool IsHeld(this JobStatus status) => status is JobStatus.Leased or JobStatus.Running;

    public static bool IsFinished(this JobStatus status) =>
        status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}

/// <summary>What a runner needs to run one step attempt (stored as the job's spec).</summary>
public sealed record JobSpecification(
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    string InputJson,
    IReadOnlyList<string> RunnerLabels);

public sealed record NewJob(Guid JobId, Guid ExecutionId, string StepName, int StepAttempt, JobSpecification Spec);

/// <summary>A lease granted to a runner: attempt is the fencing token its reports must carry.</summary>
public sealed record GrantedLease(
    Guid JobId, int Attempt, Guid ExecutionId, string StepName, int StepAttempt, JobSpecification Spec,
    DateTimeOffset LeaseExpiresAt);

/// <summary>What a runner reports when a job ends.</summary>
public sealed record JobResult(int ExitCode, IReadOnlyDictionary<string, string> Outputs, string Error, string OutputTail)
{
    public JobOutcome Outcome => ExitCode == 0 ? JobOutcome.Succeeded : JobOutcome.Failed;

    public JobStatus Status => ExitCode == 0 ? JobStatus.Succeeded : JobStatus.Failed;

    /// <summary>A retried CompleteJob carries the same result; anything else is a different claim.</summary>
    public bool SameAs(JobResult other) =>
        ExitCode == other.ExitCode
        && string.Equals(Error, other.Error, StringComparison.Ordinal)
        && string.Equals(OutputTail, other.OutputTail, StringComparison.Ordinal)
        && Outputs.Count == other.Outputs.Count
        && Outputs.All(o => other.Outputs.TryGetValue(o.Key, out var v) && string.Equals(v, o.Value, StringComparison.Ordinal));
}

public sealed record JobView(
    Guid JobId,
    JobStatus Status,
    int Attempt,
    Guid? RunnerId,
    int? ExitCode,
    IReadOnlyDictionary<string, string> Outputs,
    string? Error,
    string? OutputTail,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt)
{
    /// <summary>For a queued job: why no runner has taken it yet; null when one can take it now.</summary>
    public string? QueueReason { get; init; }
}

public static class QueueReasons
{
    /// <summary>Why a queued job waits, from the online runners whose labels cover the job's and how many of those
    /// have a free slot.</summary>
    public static string? Explain(IReadOnlyList<string> labels, int matchingOnline, int withFreeCapacity) =>
        matchingOnline == 0
            ? labels.Count == 0 ? "no online runner" : $"no online runner with labels [{string.Join(", ", labels)}]"
            : withFreeCapacity == 0
                ? $"all {matchingOnline} matching runner{(matchingOnline == 1 ? " is" : "s are")} busy"
                : null;
}

/// <summary>A job the runner names in a heartbeat or a report: id plus lease number.</summary>
public readonly record struct JobRefKey(Guid JobId, int Attempt);

public static class OutputTail
{
    /// <summary>How much of a job's combined output is kept (the end of it).</summary>
    public const int MaxBytes = 8 * 1024;

    /// <summary>The last <paramref name="maxBytes"/> bytes of <paramref name="text"/> in UTF-8, never splitting a
    /// character.</summary>
    public static string Bound(string? text, int maxBytes = MaxBytes)
    {
        if (string.IsNullOrEmpty(text) || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text ?? "";
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var start = bytes.Length - maxBytes;
        while (start < bytes.Length && (bytes[start] & 0xC0) == 0x80)
        {
            start++; // a continuation byte: the character began before the cut
        }

        return Encoding.UTF8.GetString(bytes, start, bytes.Length - start);
    }
}
