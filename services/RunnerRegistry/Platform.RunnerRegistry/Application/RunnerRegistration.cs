using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Errors;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// Registers runners. Registering the name of a live runner replaces it (like <c>config.sh --replace</c>): its
/// credential stops working and the jobs it held are requeued at once, which is how a restarted runner gets its jobs
/// running again without waiting for their leases to lapse (those whose cancel was requested end cancelled instead).
/// </summary>
internal sealed class RunnerRegistration(
    NpgsqlDataSource dataSource,
    RunnerStore runners,
    JobStore jobs,
    RunnerAuthenticator authenticator,
    JobQueue queue,
    ILogger<RunnerRegistration> logger)
{
    public const int MaxNameLength = 200;
    public const int MaxCapacity = 1000;

    public async Task<RunnerRegistered> RegisterAsync(RunnerRegistrationRequest request, CancellationToken cancellationToken)
    {
        var (name, labels, capacity, executors) = Validate(request);
        var tokenHash = Secrets.Hash(request.RegistrationToken ?? "");

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var row = await runners.LockRegistrationTokenAsync(connection, transaction, tokenHash)
                  ?? throw new UnauthenticatedException(RegistrationTokenSnapshot.UnknownTokenMessage);
        var token = row.ToSnapshot();
        if (token.RefusalAt(row.DatabaseNow) is { } refusal)
        {
            throw new UnauthenticatedException(refusal);
        }

        await runners.MarkRegistrationTokenUsedAsync(connection, transaction, token.Id);
        await runners.LockNameAsync(connection, transaction, name);
        var replaced = await runners.ReplaceByNameAsync(connection, transaction, name);
        var released = replaced.Count == 0
            ? []
            : await jobs.ReleaseHeldByAsync(connection, transaction, replaced.Select(r => r.Id).ToArray());
        await queue.AddEndedByRegistryAsync(connection, transaction, released);
        var requeued = released.Count(j => j.Status == JobStatus.Queued);

        var runnerId = Guid.CreateVersion7();
        var credential = Secrets.NewCredential();
        await runners.InsertRunnerAsync(connection, transaction, runnerId, name, Labels.Union(labels, token.Labels),
            capacity, executors, request.Version?.Trim() ?? "", Secrets.Hash(credential), token.Id);
        await transaction.CommitAsync(cancellationToken);

        foreach (var old in replaced)
        {
            authenticator.Forget(old.CredentialHash);
        }

        if (released.Count > 0)
        {
            // Requeued jobs are for the waiting runners; a replaced runner's own long poll ends (unauthenticated).
            queue.WakeWaiters();
            queue.WakeCancellationWaiters();
        }

        if (replaced.Count > 0)
        {
            logger.LogInformation(
                "Runner {Name} registered as {RunnerId}, replacing {Replaced}; {Requeued} job(s) it held were requeued, {Cancelled} cancelled",
                name, runnerId, replaced.Select(r => r.Id), requeued, released.Count - requeued);
        }
        else
        {
            logger.LogInformation("Runner {Name} registered as {RunnerId}", name, runnerId);
        }

        return new RunnerRegistered(runnerId, credential, replaced.Select(r => r.Id).ToList(), requeued);
    }

    /// <summary>
    /// Asks the runner to drain: it leases no new job (a waiting acquire answers "drain" at once) and is told so in its
    /// acquire and heartbeat answers; the jobs it runs finish.
    /// </summary>
    /// <returns>false when no live runner has the id.</returns>
    public async Task<bool> DrainAsync(Guid runnerId, CancellationToken cancellationToken)
    {
        if (!await runners.RequestDrainAsync(runnerId, cancellationToken))
        {
            return false;
        }

        queue.WakeWaiters();
        logger.LogInformation("Runner {RunnerId} was asked to drain", runnerId);
        return true;
    }

    /// <summary>
    /// Revokes the runner: its credential stops working at once (every later call is refused UNAUTHENTICATED) and the
    /// jobs it held are requeued for other runners — or end cancelled when their cancel was requested — in one
    /// transaction, as when a runner is replaced.
    /// </summary>
    /// <returns>how many jobs were requeued; null when no live runner has the id.</returns>
    public async Task<int?> RevokeAsync(Guid runnerId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var credentialHash = await runners.RevokeAsync(connection, transaction, runnerId);
        if (credentialHash is null)
        {
            return null;
        }

        var released = await jobs.ReleaseHeldByAsync(connection, transaction, [runnerId]);
        await queue.AddEndedByRegistryAsync(connection, transaction, released);
        await transaction.CommitAsync(cancellationToken);
        authenticator.Forget(credentialHash);
        if (released.Count > 0)
        {
            queue.WakeWaiters();
            queue.WakeCancellationWaiters();
        }

        var requeued = released.Count(j => j.Status == JobStatus.Queued);
        logger.LogWarning("Runner {RunnerId} was revoked; {Requeued} job(s) it held were requeued, {Cancelled} cancelled",
            runnerId, requeued, released.Count - requeued);
        return requeued;
    }

    private static (string Name, string[] Labels, int Capacity, string[] Executors) Validate(RunnerRegistrationRequest request)
    {
        var violations = new List<FieldViolation>();
        var name = request.Name?.Trim() ?? "";
        if (name.Length == 0)
        {
            violations.Add(new FieldViolation("name", "is required"));
        }
        else if (name.Length > MaxNameLength)
        {
            violations.Add(new FieldViolation("name", $"must be at most {MaxNameLength} characters"));
        }

        var capacity = request.Capacity == 0 ? 1 : request.Capacity;
        if (capacity is < 1 or > MaxCapacity)
        {
            violations.Add(new FieldViolation("capacity", $"must be between 1 and {MaxCapacity}"));
        }

        // Comma-separated kinds, in the runner's order of preference (a job both docker and kubernetes runners may
        // take runs with the first of them the runner has).
        var executors = (request.Executor ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(k => k.ToLowerInvariant()).Distinct().ToArray();
        if (executors.Length == 0)
        {
            executors = [Executors.Process];
        }

        foreach (var unknown in executors.Where(k => !Executors.Known.Contains(k)))
        {
            violations.Add(new FieldViolation("executor",
                $"'{unknown}' is not an executor kind: give one or more of {string.Join(", ", Executors.Known)}, comma-separated"));
        }

        string[] labels = [];
        try
        {
            labels = Labels.Normalize(request.Labels, "labels");
        }
        catch (ValidationFailedException ex)
        {
            violations.AddRange(ex.Violations);
        }

        return violations.Count > 0 ? throw new ValidationFailedException(violations) : (name, labels, capacity, executors);
    }
}
