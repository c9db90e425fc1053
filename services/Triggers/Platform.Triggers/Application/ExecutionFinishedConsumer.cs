using System.Text.Json;
using MassTransit;
using Npgsql;
using Platform.Execution.Contracts;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Application;

/// <summary>
/// A finished execution: starts the workflows of the event triggers watching its workflow (chaining, with its
/// outputs as their input, keyed by trigger + execution so a redelivery starts nothing new), and frees the schedule
/// that started it (a buffered slot starts now).
/// </summary>
public sealed class ExecutionFinishedConsumer(
    TriggerStore triggers, TriggerFiring firing, ScheduleStore schedules, ScheduleFirer firer, NpgsqlDataSource dataSource,
    TimeProvider clock) : IConsumer<ExecutionFinishedEvent>
{
    public async Task Consume(ConsumeContext<ExecutionFinishedEvent> context)
    {
        var m = context.Message;
        foreach (var trigger in await triggers.EventTriggersAsync(m.WorkflowId, m.Status))
        {
            await firing.FireAsync(trigger, Payload(m), $"event:{trigger.Id}:{m.ExecutionId}", context.CancellationToken);
        }

        Guid? scheduleId;
        await using (var connection = await dataSource.OpenConnectionAsync(context.CancellationToken))
        {
            scheduleId = await schedules.MarkFinishedAsync(connection, null, m.ExecutionId, clock.GetUtcNow());
        }

        if (scheduleId is { } id)
        {
            await firer.StartBufferedAsync(id, context.CancellationToken);
        }
    }

    /// <summary>What an event trigger's mapping and filter read as <c>inputs</c>, and its workflow's input when it
    /// has no mapping.</summary>
    public static JsonElement Payload(ExecutionFinishedEvent finished) => JsonSerializer.SerializeToElement(new Dictionary<string, object?>
    {
        ["execution_id"] = finished.ExecutionId,
        ["workflow_id"] = finished.WorkflowId,
        ["status"] = finished.Status,
        ["error"] = finished.Error,
        ["outputs"] = finished.StepOutputs,
    });
}

public sealed class ExecutionFinishedConsumerDefinition : ConsumerDefinition<ExecutionFinishedConsumer>
{
    public ExecutionFinishedConsumerDefinition()
    {
        EndpointName = "triggers-execution-finished";
    }
}
