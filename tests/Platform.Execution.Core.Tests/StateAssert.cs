namespace Platform.Execution.Core.Tests;

internal static class StateAssert
{
    /// <summary>States are compared by value: status, error, input (as JSON text), and every step field by field (outputs by content).</summary>
    public static void Equivalent(ExecutionState expected, ExecutionState actual)
    {
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.Error, actual.Error);
        Assert.Equal(expected.IsStopping, actual.IsStopping);
        Assert.Equal(expected.Inputs?.GetRawText(), actual.Inputs?.GetRawText());
        Assert.Equal(expected.Timers.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Timers.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.CompletionOrder, actual.CompletionOrder);
        Assert.Equal(expected.Steps.Count, actual.Steps.Count);
        for (var i = 0; i < expected.Steps.Count; i++)
        {
            var e = expected.Steps[i];
            var a = actual.Steps[i];
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.DependsOn, a.DependsOn);
            Assert.Equal(e.Status, a.Status);
            Assert.Equal(e.Attempt, a.Attempt);
            Assert.Equal(e.RunnerId, a.RunnerId);
            Assert.Equal(e.ExitCode, a.ExitCode);
            Assert.Equal(e.Outputs.OrderBy(p => p.Key, StringComparer.Ordinal), a.Outputs.OrderBy(p => p.Key, StringComparer.Ordinal));
            Assert.Equal(e.Error, a.Error);
            Assert.Equal(e.ContinuedOnFailure, a.ContinuedOnFailure);
            Assert.Equal(e.Cancelling, a.Cancelling);
            Assert.Equal(e.Compensation, a.Compensation);
            Assert.Equal(e.CompensationError, a.CompensationError);
            Assert.Equal(e.SkipReason, a.SkipReason);
        }
    }
}
