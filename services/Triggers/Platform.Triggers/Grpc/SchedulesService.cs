using Grpc.Core;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Triggers.V1;
using Platform.Triggers.Domain;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Grpc;

internal sealed class SchedulesService(ScheduleStore store, Definitions.DefinitionsClient definitions, TimeProvider clock)
    : Schedules.SchedulesBase
{
    private const int DefaultUpcoming = 5;
    private const int RecentFires = 10;

    public override async Task<Schedule> CreateSchedule(CreateScheduleRequest request, ServerCallContext context)
    {
        // Whole seconds, so an interval schedule's slots fall on round times.
        var now = clock.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
        // Every field is checked before anything is stored.
        var overlap = PolicyNames.Overlap(request.Overlap);
        var catchUp = PolicyNames.CatchUp(request.CatchUp);
        var timing = ScheduleTiming.Create(request.Cron, request.Interval, request.Timezone, now,
            Mapping.Time(request.StartAt), Mapping.Time(request.EndAt));
        var workflowId = await Mapping.ExistingWorkflowAsync(definitions, request.WorkflowId, "workflow_id", context.CancellationToken);
        var record = new ScheduleRecord(Guid.CreateVersion7(), workflowId, request.TeamId, request.Cron.Trim(), request.Interval.Trim(),
            request.Timezone, Mapping.Json(request.Input), PolicyNames.Of(overlap), PolicyNames.Of(catchUp),
            timing.StartAt?.UtcDateTime, timing.EndAt?.UtcDateTime, request.Paused, timing.NextAfter(now)?.UtcDateTime, null,
            now.UtcDateTime);
        await store.InsertAsync(record);
        return await ToProtoAsync(record, DefaultUpcoming);
    }

    public override async Task<Schedule> GetSchedule(GetScheduleRequest request, ServerCallContext context)
    {
        if (request.NextCount is < 0 or > ScheduleTiming.MaxUpcoming)
        {
            throw new ValidationFailedException("next_count", $"must be between 0 and {ScheduleTiming.MaxUpcoming}");
        }

        var schedule = await store.GetAsync(Ids.Parse(request.Id, "schedule")) ?? throw new NotFoundException("schedule", request.Id);
        return await ToProtoAsync(schedule, request.NextCount == 0 ? DefaultUpcoming : request.NextCount);
    }

    public override async Task<ListSchedulesResponse> ListSchedules(ListSchedulesRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var rows = await store.ListAsync(Mapping.OptionalId(request.WorkflowId, "workflow_id"), offset, size);
        var response = new ListSchedulesResponse { NextPageToken = Paging.NextToken(offset, size, rows.Count) };
        foreach (var row in rows)
        {
            response.Schedules.Add(await ToProtoAsync(row, 1));
        }

        return response;
    }

    public override async Task<Schedule> PauseSchedule(ScheduleRequest request, ServerCallContext context) =>
        await ToProtoAsync(await store.SetPausedAsync(Ids.Parse(request.Id, "schedule"), paused: true, _ => null)
            ?? throw new NotFoundException("schedule", request.Id), DefaultUpcoming);

    public override async Task<Schedule> ResumeSchedule(ScheduleRequest request, ServerCallContext context) =>
        await ToProtoAsync(await store.SetPausedAsync(Ids.Parse(request.Id, "schedule"), paused: false,
                s => s.Timing().NextAfter(clock.GetUtcNow()))
            ?? throw new NotFoundException("schedule", request.Id), DefaultUpcoming);

    public override async Task<Schedule> DeleteSchedule(ScheduleRequest request, ServerCallContext context) =>
        await ToProtoAsync(await store.DeleteAsync(Ids.Parse(request.Id, "schedule"), clock.GetUtcNow())
            ?? throw new NotFoundException("schedule", request.Id), 0);

    private async Task<Schedule> ToProtoAsync(ScheduleRecord record, int upcoming)
    {
        var schedule = new Schedule
        {
            Id = record.Id.ToString(),
            WorkflowId = record.WorkflowId.ToString(),
            TeamId = record.TeamId,
            Cron = record.Cron,
            Interval = record.Interval,
            Timezone = record.Timezone,
            Input = Mapping.Struct(record.Input),
            Overlap = record.Overlap,
            CatchUp = record.CatchUp,
            Paused = record.Paused,
            StartAt = Mapping.Time(record.StartAt),
            EndAt = Mapping.Time(record.EndAt),
            CreatedAt = Mapping.Time(record.CreatedAt),
        };
        if (!record.Paused && record.NextFireAt is { } next && upcoming > 0)
        {
            // The stored next slot first (it may be due right now), then the ones after it.
            var first = ScheduleRecord.Utc(next);
            schedule.NextFireTimes.Add(Mapping.Stamp(first));
            schedule.NextFireTimes.AddRange(record.Timing().Upcoming(first, upcoming - 1).Select(Mapping.Stamp));
        }

        foreach (var fire in await store.RecentFiresAsync(record.Id, RecentFires))
        {
            schedule.RecentFires.Add(new ScheduleFire
            {
                SlotTime = Mapping.Time(fire.SlotTime),
                Outcome = fire.Outcome,
                ExecutionId = fire.ExecutionId?.ToString() ?? "",
                FiredAt = Mapping.Time(fire.FiredAt),
            });
        }

        return schedule;
    }
}
