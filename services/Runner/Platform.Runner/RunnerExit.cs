namespace Platform.Runner;

public enum RunnerExitReason
{
    /// <summary>Stopped and drained (or stopped before it registered).</summary>
    Stopped,

    /// <summary>Runner-Registry refused the registration (bad, expired or used-up token, invalid settings).</summary>
    RegistrationRefused,

    /// <summary>The credential stopped working: another runner registered with this name, or this one was removed.</summary>
    CredentialRejected,
}

/// <summary>Why the agent stopped. A refused runner exits non-zero with <see cref="Message"/>.</summary>
public sealed record RunnerExit(RunnerExitReason Reason, string Message)
{
    public int ExitCode => Reason == RunnerExitReason.Stopped ? 0 : 1;
}
