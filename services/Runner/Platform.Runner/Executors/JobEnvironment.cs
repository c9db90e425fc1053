using System.Globalization;

namespace Platform.Runner.Executors;

/// <summary>The <c>PLATFORM_*</c> variables every executor gives a job (DESIGN.md §4).</summary>
public static class JobEnvironment
{
    public static IEnumerable<KeyValuePair<string, string>> Platform(RunnerJob job, string outputsPath) =>
    [
        new("PLATFORM_INPUT", string.IsNullOrEmpty(job.InputJson) ? "{}" : job.InputJson),
        new("PLATFORM_OUTPUTS", outputsPath),
        new("PLATFORM_EXECUTION_ID", job.ExecutionId.ToString()),
        new("PLATFORM_STEP", job.StepName),
        new("PLATFORM_STEP_ATTEMPT", job.StepAttempt.ToString(CultureInfo.InvariantCulture)),
        new("PLATFORM_JOB_ID", job.JobId.ToString()),
        new("PLATFORM_JOB_ATTEMPT", job.Attempt.ToString(CultureInfo.InvariantCulture)),
    ];
}

/// <summary>Kubernetes resource quantities ("500m", "2", "256Mi", "1G") as the Docker engine wants them.</summary>
public static class Quantities
{
    private static readonly (string Suffix, decimal Factor)[] Suffixes =
    [
        ("Ki", 1024m), ("Mi", 1024m * 1024), ("Gi", 1024m * 1024 * 1024), ("Ti", 1024m * 1024 * 1024 * 1024),
        ("k", 1e3m), ("M", 1e6m), ("G", 1e9m), ("T", 1e12m), ("m", 1e-3m),
    ];

    /// <summary>Bytes of a memory quantity; null when empty or not a quantity.</summary>
    public static long? Bytes(string quantity) => Parse(quantity) is { } value ? (long)decimal.Ceiling(value) : null;

    /// <summary>Billionths of a CPU of a CPU quantity ("500m" → 500,000,000); null when empty or not a quantity.</summary>
    public static long? NanoCpus(string quantity) => Parse(quantity) is { } value ? (long)(value * 1e9m) : null;

    public static decimal? Parse(string quantity)
    {
        var text = quantity.Trim();
        if (text.Length == 0)
        {
            return null;
        }

        var factor = 1m;
        foreach (var (suffix, f) in Suffixes)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                factor = f;
                text = text[..^suffix.Length];
                break;
            }
        }

        return decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            ? number * factor
            : null;
    }
}
