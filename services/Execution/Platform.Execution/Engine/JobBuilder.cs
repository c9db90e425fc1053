using System.Buffers;
using System.Text;
using System.Text.Json;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Workflow.Expressions;

namespace Platform.Execution.Engine;

/// <summary>
/// How a command of the core becomes a job, a cancellation or a timer delay: exactly as the embedded engine does it.
/// </summary>
/// <remarks>
/// Shared by the embedded engine and the Temporal workflow, so both engines build the same jobs. Pure: a function of
/// the pinned plan, the input and the folded state, so a workflow may call it.
/// </remarks>
public static class JobBuilder
{
    /// <summary>The job of a <see cref="DispatchStep"/>: the step's agent and its input.</summary>
    public static JobRequest Job(Guid executionId, PinnedWorkflow plan, JsonElement input, ExecutionState state, DispatchStep dispatch)
    {
        var step = plan.Find(dispatch.Step)
            ?? throw new InvalidOperationException($"execution {executionId}: the core dispatched unknown step '{dispatch.Step}'");
        return new JobRequest(
            ExecutionEngine.JobId(executionId, dispatch.Step, dispatch.Attempt),
            executionId,
            dispatch.Step,
            dispatch.Attempt,
            step.Agent.Command,
            step.Agent.Image,
            step.Agent.Env,
            JobInput(input, step.With, state),
            step.Agent.RunnerLabels) { Executor = step.Agent.Executor, Resources = step.Agent.Resources };
    }

    /// <summary>The job of a <see cref="DispatchCompensation"/>: the step's compensation agent, for its current attempt.</summary>
    public static JobRequest CompensationJob(Guid executionId, PinnedWorkflow plan, JsonElement input, ExecutionState state, string stepName)
    {
        var step = plan.Find(stepName);
        var attempt = state.FindStep(stepName)?.Attempt ?? 1;
        var compensation = step?.Compensation
            ?? throw new InvalidOperationException($"execution {executionId}: the core compensated step '{stepName}', which has no compensation");
        return new JobRequest(
            ExecutionEngine.CompensationJobId(executionId, stepName, attempt),
            executionId,
            stepName,
            attempt,
            compensation.Agent.Command,
            compensation.Agent.Image,
            compensation.Agent.Env,
            JobInput(input, compensation.With, state),
            compensation.Agent.RunnerLabels) { Executor = compensation.Agent.Executor, Resources = compensation.Agent.Resources };
    }

    /// <summary>The cancellation of a <see cref="CancelJob"/>: a timed-out attempt names its error, else the execution was cancelled.</summary>
    public static JobCancellation Cancellation(Guid executionId, ExecutionState state, CancelJob cancel)
    {
        var step = state.FindStep(cancel.Step);
        var reason = step is { Status: StepStatus.Failed or StepStatus.Retrying, Error: { Length: > 0 } error }
            ? error
            : "the execution was cancelled";
        return new JobCancellation(ExecutionEngine.JobId(executionId, cancel.Step, cancel.Attempt), executionId, reason);
    }

    /// <summary>
    /// The delay a host uses for a <see cref="StartTimer"/>: with jitter, between half and all of the asked delay.
    /// <paramref name="unit"/> is the host's random number in [0, 1) (the embedded engine: <c>Random.Shared</c>; the
    /// workflow: <c>Workflow.Random</c>, which replays the same numbers).
    /// </summary>
    public static TimeSpan Delay(StartTimer timer, double unit) =>
        timer.Jitter ? timer.Delay * (0.5 + (unit / 2)) : timer.Delay;

    /// <summary>Is this job a step's compensation job (rather than an attempt of the step)?</summary>
    public static bool IsCompensation(JobRequest job) =>
        job.JobId == ExecutionEngine.CompensationJobId(job.ExecutionId, job.StepName, job.StepAttempt);

    /// <summary>The job's input: the execution's input, overlaid with the step's <c>with</c> map, whose
    /// expressions are rendered against the input and the steps' outputs so far.</summary>
    private static string JobInput(JsonElement input, JsonElement? with, ExecutionState state)
    {
        if (with is not { ValueKind: JsonValueKind.Object } template)
        {
            return input.GetRawText();
        }

        var overlay = Template.RenderJson(template, new StateExpressionContext(input, state));

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in input.EnumerateObject())
            {
                if (!overlay.TryGetProperty(property.Name, out _))
                {
                    property.WriteTo(writer);
                }
            }

            foreach (var property in overlay.EnumerateObject())
            {
                property.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
