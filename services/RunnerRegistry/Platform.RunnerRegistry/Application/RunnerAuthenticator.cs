using System.Collections.Concurrent;
using Platform.BuildingBlocks.Errors;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// Resolves a runner credential to its live registration. Hits are cached briefly by credential hash; a replacement
/// in this process evicts at once, and one in another replica is seen within <see cref="CacheLifetime"/> (the job
/// queue re-checks liveness and lease ownership in SQL, so a stale entry can never act on a job it does not hold).
/// </summary>
internal sealed class RunnerAuthenticator(RunnerStore store, TimeProvider time)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(10);
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, (AuthenticatedRunner Runner, long ExpiresAt)> cache = new(StringComparer.Ordinal);

    public async Task<AuthenticatedRunner> AuthenticateAsync(string? credential, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(credential))
        {
            throw new UnauthenticatedException(
                "missing runner credential: send 'authorization: Bearer <credential>' from RegisterRunnerResponse");
        }

        var hash = Secrets.Hash(credential);
        var key = Convert.ToHexString(hash);
        var now = time.GetTimestamp();
        if (cache.TryGetValue(key, out var entry) && entry.ExpiresAt > now)
        {
            return entry.Runner;
        }

        var runner = await store.FindLiveByCredentialAsync(hash, cancellationToken);
        if (runner is null)
        {
            cache.TryRemove(key, out _);
            throw new UnauthenticatedException(
                "the runner credential is not valid: the runner was replaced by a newer registration with its name, or removed; register again");
        }

        if (cache.Count >= MaxEntries)
        {
            cache.Clear();
        }

        cache[key] = (runner, now + (long)(CacheLifetime.TotalSeconds * time.TimestampFrequency));
        return runner;
    }

    public void Forget(byte[] credentialHash) => cache.TryRemove(Convert.ToHexString(credentialHash), out _);
}
