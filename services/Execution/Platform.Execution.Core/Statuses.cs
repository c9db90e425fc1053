namespace Platform.Execution.Core;

public enum ExecutionStatus
{
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

public enum StepStatus
{
    Pending,
    Dispatched,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}
