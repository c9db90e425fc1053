namespace Platform.RunnerRegistry;

/// <summary>The <c>RunnerRegistry</c> configuration section.</summary>
public sealed class RunnerRegistryOptions
{
    public const string Section = "RunnerRegistry";

    /// <summary>How long a lease lives without a heartbeat or a report (default 30 s).</summary>
    public int LeaseTimeoutSeconds { get; set; } = 30;

    /// <summary>How often runners heartbeat (default 5 s); a runner is offline after 3 missed heartbeats.</summary>
    public int HeartbeatIntervalSeconds { get; set; } = 5;

    /// <summary>The most log lines kept per job (default 10,000); past it (or <see cref="MaxLogBytesPerJob"/>) one
    /// truncation marker is stored and the rest dropped.</summary>
    public int MaxLogLinesPerJob { get; set; } = 10_000;

    /// <summary>The most log text kept per job, in UTF-8 bytes (default 2 MiB).</summary>
    public long MaxLogBytesPerJob { get; set; } = 2 * 1024 * 1024;

    public TimeSpan LeaseTimeout => TimeSpan.FromSeconds(LeaseTimeoutSeconds);

    public TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(HeartbeatIntervalSeconds);
}
