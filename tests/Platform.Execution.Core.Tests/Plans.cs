namespace Platform.Execution.Core.Tests;

internal static class Plans
{
    public static PlannedStep Step(string name, params string[] dependsOn) => new(name, dependsOn);

    public static ExecutionPlan Of(params PlannedStep[] steps) => new(steps);

    /// <summary>Each step depends on the one before it.</summary>
    public static ExecutionPlan Sequential(params string[] names) =>
        new(names.Select((name, i) => i == 0 ? Step(name) : Step(name, names[i - 1])).ToList());

    /// <summary>A retry policy without jitter; durations in seconds.</summary>
    public static RetryPolicy Retry(int maxAttempts, double initialSeconds = 1, double maxSeconds = 60, double multiplier = 2, params int[] nonRetryableExitCodes) =>
        new(maxAttempts, TimeSpan.FromSeconds(initialSeconds), TimeSpan.FromSeconds(maxSeconds), multiplier, false, nonRetryableExitCodes);

    /// <summary>An approval step.</summary>
    public static PlannedStep Approval(string name, params string[] dependsOn) => new(name, dependsOn) { Kind = StepKind.Approval };

    public static TimeSpan Seconds(double seconds) => TimeSpan.FromSeconds(seconds);

    /// <summary>A JSON value (an execution input) that owns its memory.</summary>
    public static System.Text.Json.JsonElement Json(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>No step depends on another.</summary>
    public static ExecutionPlan Parallel(params string[] names) => new(names.Select(name => Step(name)).ToList());
}
