namespace Platform.RunnerRegistry.Domain;

public enum RunnerLiveness
{
    Online,
    Offline,
    Draining,
}

public sealed record RunnerView(
    Guid Id,
    string Name,
    IReadOnlyList<string> Labels,
    int Capacity,
    IReadOnlyList<string> Executors,
    string Version,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeatAt,
    int RunningJobs,
    bool Draining)
{
    /// <summary>A runner is offline once it has missed <see cref="MissedHeartbeatsBeforeOffline"/> heartbeats.</summary>
    public const int MissedHeartbeatsBeforeOffline = 3;

    /// <summary>Offline once it missed its heartbeats (whether or not it was draining); else draining or online.</summary>
    public RunnerLiveness LivenessAt(DateTimeOffset now, TimeSpan heartbeatInterval) =>
        now - LastHeartbeatAt > heartbeatInterval * MissedHeartbeatsBeforeOffline ? RunnerLiveness.Offline
        : Draining ? RunnerLiveness.Draining
        : RunnerLiveness.Online;
}

/// <summary>The runner a RunnerAgent call was authenticated as.</summary>
public sealed record AuthenticatedRunner(Guid Id, string Name);

/// <param name="Executor">The executor kinds, comma-separated (PLATFORM_RUNNER_EXECUTOR).</param>
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

    /// <summary>The kinds that may run a job: the one its agent names, else a container runtime for an image and a
    /// process for a plain command.</summary>
    public static string[] ForJob(string explicitKind, string image) =>
        explicitKind.Length > 0 ? [explicitKind]
        : image.Trim().Length > 0 ? [Docker, Kubernetes]
        : [Process];

    /// <summary>How a list of kinds reads in a queue reason: "docker or kubernetes".</summary>
    public static string Describe(IReadOnlyList<string> kinds) => string.Join(" or ", kinds);
}
