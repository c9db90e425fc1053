using System.Text.Json.Nodes;
using MassTransit;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.RunnerRegistry.Contracts;

namespace Platform.Execution.Messaging;

/// <summary>Turns Runner-Registry's job events into the core's step events.</summary>
public sealed class JobEventsConsumer(IExecutionEngine engine) : IConsumer<JobStarted>, IConsumer<JobFinished>
{
    public Task Consume(ConsumeContext<JobStarted> context) =>
        ApplyAsync(engine, context.Message, MessageIdOf(context), context.CancellationToken);

    public Task Consume(ConsumeContext<JobFinished> context) =>
        ApplyAsync(engine, context.Message, MessageIdOf(context), context.CancellationToken);

    /// <summary>Applies a job's start, once per <paramref name="messageId"/> (also for a caller that has the event
    /// without the bus: the Standalone host's Runner-Registry).</summary>
    public static Task ApplyAsync(IExecutionEngine engine, JobStarted m, Guid messageId, CancellationToken cancellationToken)
    {
        if (m.JobId == ExecutionEngine.CompensationJobId(m.ExecutionId, m.StepName, m.StepAttempt))
        {
            // A compensation's start changes nothing the core tracks; its end does.
            return Task.CompletedTask;
        }

        return engine.ApplyAsync(m.ExecutionId, [JobResults.Started(m.StepName, m.StepAttempt, m.RunnerId, m.StartedAt, m.Attempt)],
            messageId, nameof(JobStarted), cancellationToken);
    }

    /// <summary>Applies a job's end, once per <paramref name="messageId"/>.</summary>
    public static Task ApplyAsync(IExecutionEngine engine, JobFinished m, Guid messageId, CancellationToken cancellationToken)
    {
        var result = new JobResult(m.JobId, m.StepName, m.StepAttempt, m.Attempt, m.RunnerId, m.StartedAt, m.Outcome switch
        {
            JobOutcome.Succeeded => JobResultKind.Succeeded,
            JobOutcome.Cancelled => JobResultKind.Cancelled,
            _ => JobResultKind.Failed,
        }, m.ExitCode, m.Outputs, m.Error, m.OutputTail, m.FinishedAt);
        return engine.ApplyAsync(m.ExecutionId, JobResults.Finished(m.ExecutionId, result), messageId, nameof(JobFinished),
            cancellationToken);
    }

    private static Guid MessageIdOf<T>(ConsumeContext<T> context) where T : class =>
        context.MessageId ?? throw new InvalidOperationException($"{typeof(T).Name} without a message id");
}

public sealed class JobEventsConsumerDefinition : ConsumerDefinition<JobEventsConsumer>
{
    public JobEventsConsumerDefinition()
    {
        EndpointName = "execution-job-events";
    }
}

/// <summary>How a job's end, whether heard as an event or found by the reconciler, becomes the core's events.</summary>
public static class JobResults
{
    public static (ExecutionEvent, JsonObject?) Started(string step, int stepAttempt, Guid runnerId, DateTimeOffset startedAt, int jobAttempt) =>
        (new StepStarted(step, stepAttempt, runnerId.ToString()), new JsonObject
        {
            ["started_at"] = startedAt,
            ["job_attempt"] = jobAttempt,
        });

    public static IReadOnlyList<(ExecutionEvent, JsonObject?)> Finished(Guid executionId, JobResult r)
    {
        if (r.JobId == ExecutionEngine.CompensationJobId(executionId, r.Step, r.StepAttempt))
        {
            var compensationDetails = new JsonObject { ["finished_at"] = r.FinishedAt, ["exit_code"] = r.ExitCode };
            if (!string.IsNullOrEmpty(r.OutputTail))
            {
                compensationDetails["output_tail"] = r.OutputTail;
            }

            return r.Kind == JobResultKind.Succeeded
                ? [(new CompensationSucceeded(r.Step), compensationDetails)]
                : [(new CompensationFailed(r.Step, r.Error is { Length: > 0 } e ? e : r.ExitCode is { } code ? $"exit code {code}" : "the compensation failed"), compensationDetails)];
        }

        var events = new List<(ExecutionEvent, JsonObject?)>(2);
        // Job events may arrive out of order: if the start was not seen yet, the finish carries what it said.
        if (r.RunnerId is { } runner && r.StartedAt is { } startedAt)
        {
            events.Add(Started(r.Step, r.StepAttempt, runner, startedAt, r.JobAttempt));
        }

        var details = new JsonObject
        {
            ["finished_at"] = r.FinishedAt,
            ["job_attempt"] = r.JobAttempt,
        };
        if (!string.IsNullOrEmpty(r.OutputTail))
        {
            details["output_tail"] = r.OutputTail;
        }

        // An empty error lets the core describe the failure by its exit code.
        ExecutionEvent result = r.Kind switch
        {
            JobResultKind.Succeeded => new StepSucceeded(r.Step, r.StepAttempt, r.ExitCode ?? 0, r.Outputs),
            JobResultKind.Cancelled => new StepCancelled(r.Step, r.StepAttempt),
            _ => new StepFailed(r.Step, r.StepAttempt, r.ExitCode, r.Error ?? ""),
        };
        events.Add((result, details));
        return events;
    }
}
