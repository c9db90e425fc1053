namespace Platform.Execution.Core.Tests;

internal static class Plans
{
    public static PlannedStep Step(string name, params string[] dependsOn) => new(name, dependsOn);

    public static ExecutionPlan Of(params PlannedStep[] steps) => new(steps);

    /// <summary>Each step depends on the one before it.</summary>
    public static ExecutionPlan Sequential(params string[] names) =>
        new(names.Select((name, i) => i == 0 ? Step(name) : Step(name, names[i - 1])).ToList());

    /// <summary>No step depends on another.</summary>
    public static ExecutionPlan Parallel(params string[] names) => new(names.Select(name => Step(name)).ToList());
}
