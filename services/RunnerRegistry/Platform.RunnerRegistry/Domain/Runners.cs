namespace Platform.RunnerRegistry.Domain;

public enum RunnerLiveness
{
    Online,
    Offline,
}

public sealed record RunnerView(
    Guid Id,
    string Name,
    IReadOnlyList<string> Labels,
    int Capacity,
    string Executor,
    string Version,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeatAt,
    int RunningJobs)
{
    /// <summary>A runner is offline once it has missed <see cref="MissedHeartbeatsBeforeOffline"/> heartbeats.</summary>
    public const int MissedHeartbeatsBeforeOffline = 3;

    public RunnerLiveness LivenessAt(DateTimeOffset now, TimeSpan heartbeatInterval) =>
        now - LastHeartbeatAt <= heartbeatInterval * MissedHeartbeatsBeforeOffline
            ? RunnerLiveness.Online
            : RunnerLiveness.Offline;
}

/// <summary>The runner a RunnerAgent call was authenticated as.</summary>
public sealed record AuthenticatedRunner(Guid Id, string Name);

public sealed record RunnerRegistrationRequest(
    string RegistrationToken, string Name, IReadOnlyList<string> Labels, int Capacity, string Executor, string Version);

public sealed record RunnerRegistered(Guid RunnerId, string Credential, IReadOnlyList<Guid> Replaced, int RequeuedJobs);

public sealed record IssuedRegistrationToken(string Token, DateTimeOffset ExpiresAt, bool SingleUse);

public static class Executors
{
    public const string Process = "process";
    public const string Docker = "docker";
    public const string Kubernetes = "kubernetes";

    public static readonly IReadOnlyList<string> Known = [Process, Docker, Kubernetes];
}
