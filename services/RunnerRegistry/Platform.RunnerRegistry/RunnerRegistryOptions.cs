namespace Platform.RunnerRegistry;

/// <summary>The <c>RunnerRegistry</c> configuration section.</summary>
public sealed class RunnerRegistryOptions
{
    public const string Section = "RunnerRegistry";

    /// <summary>How long a lease lives without a heartbeat or a report (default 30 s).</summary>
    public int LeaseTimeoutSeconds { get; set; } = 30;

    /// <summary>How often runners heartbeat (default 5 s); a runner is offline after 3 missed heartbeats.</summary>
    public int HeartbeatIntervalSeconds { get; set; } = 5;

    public TimeSpan LeaseTimeout => TimeSpan.FromSeconds(LeaseTimeoutSeconds);

    public TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(HeartbeatIntervalSeconds);
}
