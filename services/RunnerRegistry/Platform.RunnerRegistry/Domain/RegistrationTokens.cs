namespace Platform.RunnerRegistry.Domain;

/// <summary>A registration token as stored, and the rules for registering with it.</summary>
public sealed record RegistrationTokenSnapshot(
    Guid Id, IReadOnlyList<string> Labels, bool SingleUse, DateTimeOffset ExpiresAt, DateTimeOffset? UsedAt)
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(365);

    public const string UnknownTokenMessage =
        "the registration token is not valid: create one with POST /api/v1/runners/registration-tokens";

    /// <summary>Why a runner may not register with this token at <paramref name="now"/>, or null when it may.</summary>
    public string? RefusalAt(DateTimeOffset now)
    {
        if (now >= ExpiresAt)
        {
            return $"the registration token expired at {ExpiresAt:u}: create a new one";
        }

        if (SingleUse && UsedAt is { } used)
        {
            return $"the single-use registration token was already used at {used:u}: create a new one";
        }

        return null;
    }
}
