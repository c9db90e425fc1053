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
    IReadOnlyList<string> RunnerLabels)
{
    /// <summary>The executor kind the agent names; empty: chosen by <see cref="Executors.ForJob"/>.</summary>
    public string Executor { get; init; } = "";

    public JobResources Resources { get; init; } = JobResources.None;

    /// <summary>The kinds of runner that may lease the job.</summary>
    public string[] AcceptedExecutors => Executors.ForJob(Executor, Image);
}

/// <summary>Kubernetes quantities ("500m", "256Mi"); empty when not set.</summary>
public sealed record JobResources(string CpuRequest, string CpuLimit, string MemoryRequest, string MemoryLimit)
{
    public static readonly JobResources None = new("", "", "", "");
}

public sealed record NewJob(Guid JobId, Guid ExecutionId, string StepName, int StepAttempt, JobSpecification Spec);

/// <summary>A lease granted to a runner: attempt is the fencing token its reports must carry; executor is the runner's
/// kind to run it with.</summary>
public sealed record GrantedLease(
    Guid JobId, int Attempt, Guid ExecutionId, string StepName, int StepAttempt, JobSpecification Spec,
    DateTimeOffset LeaseExpiresAt, string Executor);

/// <summary>The answer to an acquire: a lease, or none; <see cref="Drain"/>: the runner was asked to drain.</summary>
public sealed record AcquireOutcome(GrantedLease? Lease, bool Drain)
{
    public static readonly AcquireOutcome Nothing = new(null, false);
}

/// <summary>What a runner reports when a job ends.</summary>
public sealed record JobResult(int ExitCode, IReadOnlyDictionary<string, string> Outputs, string Error, string OutputTail)
{
    /// <summary>For a job whose start was not reported: how long after its lease the runner began running it (the
    /// start is then recorded with the end). Null: it never ran, or its start was reported.</summary>
    public TimeSpan? StartedAfterLease { get; init; }

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
    /// <summary>Why a queued job waits, from the online (not draining) runners whose labels cover the job's, how many
    /// of those also have an executor kind the job accepts, and how many of those have a free slot.</summary>
    public static string? Explain(IReadOnlyList<string> labels, IReadOnlyList<string> executors, int withLabels,
        int matchingOnline, int withFreeCapacity)
    {
        var kinds = Executors.Describe(executors);
        var withTheLabels = labels.Count == 0 ? "" : $" labels [{string.Join(", ", labels)}]";
        if (withLabels == 0)
        {
            var kindPart = executors is [Executors.Process] ? "" : $" executor {kinds}";
            return kindPart.Length == 0 && withTheLabels.Length == 0
                ? "no online runner"
                : $"no online runner with{withTheLabels}{(kindPart.Length > 0 && withTheLabels.Length > 0 ? " and" : "")}{kindPart}";
        }

        if (matchingOnline == 0)
        {
            return $"no online runner{(withTheLabels.Length > 0 ? $" with{withTheLabels}" : "")} has executor {kinds} " +
                   $"({withLabels} online runner{(withLabels == 1 ? " has" : "s have")} other executors)";
        }

        return withFreeCapacity == 0
            ? $"all {matchingOnline} matching runner{(matchingOnline == 1 ? " is" : "s are")} busy"
            : null;
    }
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
