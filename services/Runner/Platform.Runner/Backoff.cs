namespace Platform.Runner;

/// <summary>Exponential backoff with jitter: each delay is drawn from [ceiling/2, ceiling], the ceiling doubling per
/// failure up to a maximum, so that runners failing together do not retry together.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan maximum)
{
    private int failures;

    public TimeSpan Next()
    {
        var ceiling = Math.Min(maximum.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 30)));
        failures++;
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    public void Reset() => failures = 0;
}
