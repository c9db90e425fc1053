using Platform.BuildingBlocks.Errors;

namespace Platform.RunnerRegistry.Domain;

/// <summary>Who holds a job now: reports are accepted only from the runner holding the lease they name.</summary>
public sealed record JobOwnership(JobStatus Status, int Attempt, Guid? RunnerId)
{
    public bool IsLeaseOf(Guid runnerId, int attempt) => RunnerId == runnerId && Attempt == attempt;

    /// <summary>The refusal of a report about <paramref name="attempt"/> by a runner that does not hold it.</summary>
    public static PermissionDeniedException NotHeld(Guid jobId, int attempt, JobOwnership? current) =>
        new(current is null
            ? $"job {jobId} attempt {attempt} is not leased to this runner"
            : $"job {jobId} attempt {attempt} is not leased to this runner (the job is {current.Status.ToDb()} at attempt {current.Attempt})");
}
