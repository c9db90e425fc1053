using Platform.BuildingBlocks.Errors;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// Issues runner registration tokens. Public so that a host can hand its embedded runner a token in-process
/// (the Standalone host); operators use <c>POST /api/v1/runners/registration-tokens</c>.
/// </summary>
public sealed class RegistrationTokenIssuer
{
    private readonly RunnerStore store;

    internal RegistrationTokenIssuer(RunnerStore store) => this.store = store;

    /// <summary>A new token; runners registered with it get <paramref name="labels"/> in addition to their own.</summary>
    public async Task<string> IssueAsync(IReadOnlyList<string> labels, TimeSpan expiresIn, bool singleUse,
        CancellationToken cancellationToken) =>
        (await CreateAsync(labels, expiresIn, singleUse, cancellationToken)).Token;

    public async Task<IssuedRegistrationToken> CreateAsync(IReadOnlyList<string> labels, TimeSpan expiresIn,
        bool singleUse, CancellationToken cancellationToken)
    {
        if (expiresIn <= TimeSpan.Zero || expiresIn > RegistrationTokenSnapshot.MaxLifetime)
        {
            throw new ValidationFailedException("expires_in",
                $"must be between 1 and {(int)RegistrationTokenSnapshot.MaxLifetime.TotalSeconds} seconds");
        }

        var normalized = Labels.Normalize(labels, "labels");
        var token = Secrets.NewRegistrationToken();
        var expiresAt = await store.InsertRegistrationTokenAsync(
            Guid.CreateVersion7(), Secrets.Hash(token), normalized, singleUse, expiresIn, cancellationToken);
        return new IssuedRegistrationToken(token, expiresAt, singleUse);
    }
}
