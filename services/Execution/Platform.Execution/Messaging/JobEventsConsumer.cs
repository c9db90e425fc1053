using System.Text.Json.Nodes;
using MassTransit;
using Platform.Execution.Core;
using Platform.Execution.Engine;
using Platform.RunnerRegistry.Contracts;

namespace Platform.Execution.Messaging;

/// <summary>Turns Runner-Registry's job events into the core's step events.</summary>
public sealed class JobEventsConsumer(ExecutionEngine engine) : IConsumer<JobStarted>, IConsumer<JobFinished>
{
    public Task Consume(ConsumeContext<JobStarted> context)
    {
        var m = context.Message;
        return engine.ApplyAsync(m.ExecutionId,
            [(new StepStarted(m.StepName, m.StepAttempt, m.RunnerId.ToString()), Started(m.StartedAt, m.Attempt))],
            context.MessageId ?? throw new InvalidOperationException("JobStarted without a message id"),
            nameof(JobStarted), context.CancellationToken);
    }

    public Task Consume(ConsumeContext<JobFinished> context)
    {
        var m = context.Message;
        var events = new List<(ExecutionEvent, JsonObject?)>(2);
        // Job events may arrive out of order: if the start was not seen yet, the finish carries what it said.
        if (m.RunnerId is { } runner && m.StartedAt is { } startedAt)
        {
            events.Add((new StepStarted(m.StepName, m.StepAttempt, runner.ToString()), Started(startedAt, m.Attempt)));
        }

        var details = new JsonObject
        {
            ["finished_at"] = m.FinishedAt,
            ["job_attempt"] = m.Attempt,
        };
        if (!string.IsNullOrEmpty(m.OutputTail))
        {
            details["output_tail"] = m.OutputTail;
        }

        ExecutionEvent result = m.Outcome switch
        {
            JobOutcome.Succeeded => new StepSucceeded(m.StepName, m.StepAttempt, m.ExitCode ?? 0, m.Outputs),
            JobOutcome.Cancelled => new StepFailed(m.StepName, m.StepAttempt, m.ExitCode, m.Error ?? "the job was cancelled"),
            _ => new StepFailed(m.StepName, m.StepAttempt, m.ExitCode, m.Error ?? ""),
        };
        events.Add((result, details));
        return engine.ApplyAsync(m.ExecutionId, events,
            context.MessageId ?? throw new InvalidOperationException("JobFinished without a message id"),
            nameof(JobFinished), context.CancellationToken);
    }

    private static JsonObject Started(DateTimeOffset startedAt, int jobAttempt) => new()
    {
        ["started_at"] = startedAt,
        ["job_attempt"] = jobAttempt,
    };
}

public sealed class JobEventsConsumerDefinition : ConsumerDefinition<JobEventsConsumer>
{
    public JobEventsConsumerDefinition()
    {
        EndpointName = "execution-job-events";
    }
}
