namespace Platform.Runner;

public enum RunnerExitReason
{
    /// <summary>Stopped and drained (or stopped before it registered).</summary>
    Stopped,

    /// <summary>Runner-Registry refused the registration (bad, expired or used-up token, invalid settings).</summary>
    RegistrationRefused,

    /// <summary>The credential stopped working: another runner registered with this name, or this one was revoked.</summary>
    CredentialRejected,

    /// <summary>The registry asked the runner to drain (<c>POST /api/v1/runners/{id}:drain</c>) and its jobs finished:
    /// a clean exit.</summary>
    Drained,
}

/// <summary>Why the agent stopped. A refused runner exits non-zero with <see cref="Message"/>.</summary>
public sealed record RunnerExit(RunnerExitReason Reason, string Message)
{
    public int ExitCode => Reason is RunnerExitReason.Stopped or RunnerExitReason.Drained ? 0 : 1;
}
