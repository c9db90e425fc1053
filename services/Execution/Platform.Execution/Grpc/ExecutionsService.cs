using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Persistence;
using Platform.Protos.Execution.V1;
using Core = Platform.Execution.Core;

namespace Platform.Execution.Grpc;

/// <summary>The Execution context's API: maps proto messages to the engine's domain types and back.</summary>
internal sealed class ExecutionsService(
    IExecutionEngine engine, ExecutionStore store, NpgsqlDataSource dataSource, PgNotificationHub notifications, IJobQueue jobQueue,
    ILogger<ExecutionsService> logger)
    : Executions.ExecutionsBase
{
    private const int MaxIdempotencyKeyLength = 200;

    public override async Task<Protos.Execution.V1.Execution> StartExecution(StartExecutionRequest request, ServerCallContext context)
    {
        var workflowId = Ids.Parse(request.WorkflowId, "workflow");
        if (request.Revision < 0)
        {
            throw new ValidationFailedException("revision", "must be a revision number, or 0 for the latest");
        }

        if (request.IdempotencyKey.Length > MaxIdempotencyKeyLength)
        {
            throw new ValidationFailedException("idempotency_key", $"must be at most {MaxIdempotencyKeyLength} characters");
        }

        var input = request.Input is null ? new JsonObject() : JsonNode.Parse(JsonFormatter.Default.Format(request.Input))!.AsObject();
        var id = await engine.StartAsync(new StartCommand(workflowId, request.Revision, input,
            string.IsNullOrEmpty(request.IdempotencyKey) ? null : request.IdempotencyKey), context.CancellationToken);
        return await LoadAsync(id, context.CancellationToken);
    }

    public override Task<Protos.Execution.V1.Execution> GetExecution(GetExecutionRequest request, ServerCallContext context) =>
        LoadAsync(Ids.Parse(request.Id, "execution"), context.CancellationToken);

    public override async Task<ListExecutionsResponse> ListExecutions(ListExecutionsRequest request, ServerCallContext context)
    {
        Guid? workflowId = null;
        if (!string.IsNullOrEmpty(request.WorkflowId))
        {
            workflowId = Guid.TryParse(request.WorkflowId, out var parsed)
                ? parsed
                : throw new ValidationFailedException("workflow_id", "is not a workflow id");
        }

        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        await using var connection = await dataSource.OpenConnectionAsync(context.CancellationToken);
        var rows = await store.ListAsync(connection, new ExecutionQuery(workflowId, FromProto(request.Status), offset, size));
        var response = new ListExecutionsResponse { NextPageToken = Paging.NextToken(offset, size, rows.Count) };
        response.Executions.AddRange(rows.Select(r => ToProto(r)));
        return response;
    }

    public override async Task WatchExecution(WatchExecutionRequest request, IServerStreamWriter<ExecutionUpdate> responseStream,
        ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        var cancellation = context.CancellationToken;
        var signal = notifications.Channel(ExecutionStore.EventsChannel);
        var after = request.AfterSequence;
        // Log cursors of the step attempts that ran while watching, until their log is complete.
        var logs = new Dictionary<(string Step, int Attempt), long>();
        if (!request.EventsOnly && request.AfterSequence > 0 && await engine.ReadAsync(id, cancellation) is { } resumed)
        {
            // Resumed after the dispatch events: follow the steps running now, their logs from the beginning.
            foreach (var step in resumed.State.Steps.Where(s => s.IsActive))
            {
                logs.TryAdd((step.Name, step.Attempt), 0);
            }
        }

        while (!cancellation.IsCancellationRequested)
        {
            // Taken before reading, so an event committed meanwhile wakes the next wait.
            var wake = signal.Next;
            ExecutionSummary? summary;
            IReadOnlyList<HistoryEntry> events;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellation))
            {
                summary = await store.GetSummaryAsync(connection, id) ?? throw new NotFoundException("execution", request.Id);
                events = await store.LoadHistoryAsync(connection, null, id, after);
            }

            foreach (var e in events)
            {
                await responseStream.WriteAsync(new ExecutionUpdate { Event = ToProto(e) }, cancellation);
                after = e.Sequence;
                if (!request.EventsOnly && e.Type == HistoryCodec.StepDispatchedType && e.Step is { } step && e.Attempt is { } attempt)
                {
                    logs.TryAdd((step, attempt), 0);
                }
            }

            var finished = summary.FinishedAt is not null;
            await SendLogsAsync(id, logs, responseStream, TimeSpan.Zero, cancellation);
            // The status was read before the events and logs: a finished execution has written everything by then.
            if (finished)
            {
                return;
            }

            // Wake on a new event, or on a new line of any step still writing (a long poll per step attempt).
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            waiting.CancelAfter(TimeSpan.FromSeconds(30));
            var waits = new List<Task> { wake.WaitAsync(waiting.Token) };
            foreach (var ((step, attempt), cursor) in logs)
            {
                waits.Add(jobQueue.GetLogAsync(ExecutionEngine.JobId(id, step, attempt), cursor, 1, TimeSpan.FromSeconds(25), waiting.Token));
            }

            await Task.WhenAny(waits);
            await waiting.CancelAsync();
            await Task.WhenAll(waits).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Sends the new lines of each followed step attempt; an attempt whose log is complete is dropped.</summary>
    private async Task SendLogsAsync(Guid id, Dictionary<(string Step, int Attempt), long> logs,
        IServerStreamWriter<ExecutionUpdate> responseStream, TimeSpan wait, CancellationToken cancellation)
    {
        foreach (var key in logs.Keys.ToList())
        {
            while (true)
            {
                var log = await jobQueue.GetLogAsync(ExecutionEngine.JobId(id, key.Step, key.Attempt), logs[key], 1000, wait, cancellation);
                foreach (var line in log.Lines)
                {
                    await responseStream.WriteAsync(new ExecutionUpdate
                    {
                        Log = new StepLogLine
                        {
                            Sequence = line.Sequence,
                            Stream = line.Stream,
                            Text = line.Text,
                            Time = Timestamp.FromDateTimeOffset(line.Time),
                            Step = key.Step,
                            Attempt = key.Attempt,
                        },
                    }, cancellation);
                    logs[key] = line.Sequence;
                }

                if (log.Complete)
                {
                    logs.Remove(key);
                    break;
                }

                if (log.Lines.Count < 1000)
                {
                    break;
                }
            }
        }
    }

    public override async Task<ExecutionHistory> GetExecutionHistory(GetExecutionHistoryRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        await using var connection = await dataSource.OpenConnectionAsync(context.CancellationToken);
        var history = await store.LoadHistoryAsync(connection, null, id, request.AfterSequence);
        if (history.Count == 0 && await store.GetSummaryAsync(connection, id) is null)
        {
            throw new NotFoundException("execution", request.Id);
        }

        var response = new ExecutionHistory { ExecutionId = id.ToString() };
        response.Events.AddRange(history.Select(ToProto));
        return response;
    }

    private static HistoryEvent ToProto(HistoryEntry e) => new()
    {
        Sequence = e.Sequence,
        Type = e.Type,
        Time = Timestamp.FromDateTimeOffset(e.Time),
        Step = e.Step ?? "",
        Attempt = e.Attempt ?? 0,
        Data = Struct.Parser.ParseJson(e.Data.ToJsonString()),
    };

    public override async Task<StepLogs> GetStepLogs(GetStepLogsRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        if (request.WaitSeconds is < 0 or > 60)
        {
            throw new ValidationFailedException("wait_seconds", "must be between 0 and 60");
        }

        var read = await engine.ReadAsync(id, context.CancellationToken) ?? throw new NotFoundException("execution", request.Id);
        var step = read.State.FindStep(request.Step) ?? throw new NotFoundException("step", $"{request.Id}/{request.Step}");
        var attempt = request.Attempt > 0 ? request.Attempt : step.Attempt;
        if (attempt > step.Attempt)
        {
            throw new NotFoundException("step attempt", $"{request.Step}/{request.Attempt}");
        }

        var logs = new StepLogs { Step = step.Name, Attempt = attempt, NextSequence = request.AfterSequence };
        if (attempt == 0)
        {
            return logs; // not started yet: nothing written
        }

        var log = await jobQueue.GetLogAsync(ExecutionEngine.JobId(id, step.Name, attempt), request.AfterSequence,
            request.Limit, TimeSpan.FromSeconds(request.WaitSeconds), context.CancellationToken);
        foreach (var line in log.Lines)
        {
            logs.Lines.Add(new StepLogLine
            {
                Sequence = line.Sequence,
                Stream = line.Stream,
                Text = line.Text,
                Time = Timestamp.FromDateTimeOffset(line.Time),
            });
            logs.NextSequence = line.Sequence;
        }

        logs.Complete = log.Complete;
        return logs;
    }

    public override async Task<Protos.Execution.V1.Execution> CancelExecution(CancelExecutionRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        var reason = string.IsNullOrWhiteSpace(request.Reason) ? "cancelled by request" : request.Reason.Trim();
        // Each request is its own message: a second cancel is simply not admitted by the core.
        if (!await engine.ApplyAsync(id, [(new Core.CancelRequested(reason), null)], Guid.NewGuid(), "api", context.CancellationToken))
        {
            await RefuseUnlessExistsAsync(id, "only a running execution can be cancelled", context.CancellationToken);
        }

        return await LoadAsync(id, context.CancellationToken);
    }

    public override async Task<Protos.Execution.V1.Execution> RetryExecution(RetryExecutionRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        if (!await engine.ApplyAsync(id, [(new Core.RetryRequested(), null)], Guid.NewGuid(), "api", context.CancellationToken))
        {
            await RefuseUnlessExistsAsync(id, "only a failed execution can be retried", context.CancellationToken);
        }

        return await LoadAsync(id, context.CancellationToken);
    }

    public override async Task<Protos.Execution.V1.Execution> SignalExecution(SignalExecutionRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "execution");
        var payload = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Payload?.Fields ?? new Google.Protobuf.Collections.MapField<string, Value>())
        {
            // Outputs are strings (as a step's key=value lines are); structured values keep their JSON text.
            payload[key] = value.KindCase == Value.KindOneofCase.StringValue ? value.StringValue : JsonFormatter.Default.Format(value);
        }

        if (!await engine.ApplyAsync(id, [(new Core.SignalReceived(request.Name, payload), null)], Guid.NewGuid(), "api", context.CancellationToken))
        {
            await RefuseUnlessExistsAsync(id, $"no approval step named '{request.Name}' is waiting for a signal", context.CancellationToken);
        }

        return await LoadAsync(id, context.CancellationToken);
    }

    private async Task RefuseUnlessExistsAsync(Guid id, string why, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        _ = await store.GetSummaryAsync(connection, id) ?? throw new NotFoundException("execution", id.ToString());
        throw new PreconditionFailedException(why);
    }

    private async Task<Protos.Execution.V1.Execution> LoadAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var summary = await store.GetSummaryAsync(connection, id) ?? throw new NotFoundException("execution", id.ToString());
        var read = await engine.ReadAsync(id, cancellationToken);
        var execution = ToProto(summary);
        if (read is { } r)
        {
            var steps = StepViews.Build(r.State, r.Plan, r.History);
            steps = await WithQueueReasonsAsync(id, steps, cancellationToken);
            execution.Steps.AddRange(steps.Select(ToProto));
            execution.WaitingFor.AddRange(steps.Where(v => v.WaitingFor is not null).Select(v => $"{v.State.Name}: {v.WaitingFor}"));
        }

        return execution;
    }

    /// <summary>A queued step says why no runner has taken it (one call for all of them).</summary>
    private async Task<IReadOnlyList<StepView>> WithQueueReasonsAsync(Guid id, IReadOnlyList<StepView> steps, CancellationToken cancellationToken)
    {
        var queued = steps.Where(v => v.State.Status == Core.StepStatus.Dispatched)
            .ToDictionary(v => ExecutionEngine.JobId(id, v.State.Name, v.State.Attempt));
        if (queued.Count == 0)
        {
            return steps;
        }

        IReadOnlyDictionary<Guid, string> reasons;
        try
        {
            reasons = await jobQueue.GetQueueReasonsAsync(queued.Keys.ToList(), cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
        {
            // The reasons only decorate the answer: a start that was accepted, or a read, must not fail for want of them.
            logger.LogDebug("Runner-Registry did not answer for the queue reasons of execution {ExecutionId}: {Error}", id, e.Status.Detail);
            return steps;
        }

        return steps.Select(v =>
            v.State.Status == Core.StepStatus.Dispatched
            && reasons.TryGetValue(ExecutionEngine.JobId(id, v.State.Name, v.State.Attempt), out var reason)
                ? v with { WaitingFor = reason }
                : v).ToList();
    }

    private static Protos.Execution.V1.Execution ToProto(ExecutionSummary s)
    {
        var e = new Protos.Execution.V1.Execution
        {
            Id = s.Id.ToString(),
            WorkflowId = s.WorkflowId.ToString(),
            Revision = s.Revision,
            WorkflowName = s.WorkflowName,
            Status = ToProto(s.Status),
            Input = Struct.Parser.ParseJson(s.Input.ToJsonString()),
            CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt),
            Error = s.Error ?? "",
            IdempotencyKey = s.IdempotencyKey ?? "",
        };
        if (s.FinishedAt is { } finished)
        {
            e.FinishedAt = Timestamp.FromDateTimeOffset(finished);
        }

        return e;
    }

    private static StepExecution ToProto(StepView v)
    {
        var step = new StepExecution
        {
            Name = v.State.Name,
            Status = ToProto(v.State.Status),
            Attempt = v.State.Attempt,
            RunnerId = v.State.RunnerId ?? "",
            Error = v.State.Error ?? "",
            OutputTail = v.OutputTail ?? "",
            Agent = v.Agent,
            WaitingFor = v.WaitingFor ?? "",
            Compensation = v.State.Compensation.ToString().ToUpperInvariant(),
            CompensationError = v.State.CompensationError ?? "",
        };
        step.Requires.AddRange(v.State.DependsOn);
        foreach (var (key, value) in v.State.Outputs)
        {
            step.Outputs[key] = value;
        }
        if (v.State.ExitCode is { } code)
        {
            step.ExitCode = code;
        }

        if (v.StartedAt is { } started)
        {
            step.StartedAt = Timestamp.FromDateTimeOffset(started);
        }

        if (v.FinishedAt is { } finishedAt)
        {
            step.FinishedAt = Timestamp.FromDateTimeOffset(finishedAt);
        }

        return step;
    }

    private static ExecutionStatus ToProto(Core.ExecutionStatus status) => status switch
    {
        Core.ExecutionStatus.Pending => ExecutionStatus.Pending,
        Core.ExecutionStatus.Running => ExecutionStatus.Running,
        Core.ExecutionStatus.Succeeded => ExecutionStatus.Succeeded,
        Core.ExecutionStatus.Failed => ExecutionStatus.Failed,
        Core.ExecutionStatus.Cancelled => ExecutionStatus.Cancelled,
        Core.ExecutionStatus.Compensating => ExecutionStatus.Compensating,
        _ => ExecutionStatus.Unspecified,
    };

    private static Core.ExecutionStatus? FromProto(ExecutionStatus status) => status switch
    {
        ExecutionStatus.Unspecified => null,
        ExecutionStatus.Pending => Core.ExecutionStatus.Pending,
        ExecutionStatus.Running => Core.ExecutionStatus.Running,
        ExecutionStatus.Succeeded => Core.ExecutionStatus.Succeeded,
        ExecutionStatus.Failed => Core.ExecutionStatus.Failed,
        ExecutionStatus.Cancelled => Core.ExecutionStatus.Cancelled,
        ExecutionStatus.Compensating => Core.ExecutionStatus.Compensating,
        _ => throw new ValidationFailedException("status", "is not an execution status"),
    };

    private static StepStatus ToProto(Core.StepStatus status) => status switch
    {
        Core.StepStatus.Pending => StepStatus.Pending,
        Core.StepStatus.Dispatched => StepStatus.Queued,
        Core.StepStatus.Running => StepStatus.Running,
        Core.StepStatus.Succeeded => StepStatus.Succeeded,
        Core.StepStatus.Failed => StepStatus.Failed,
        Core.StepStatus.Skipped => StepStatus.Skipped,
        Core.StepStatus.Cancelled => StepStatus.Cancelled,
        Core.StepStatus.Waiting => StepStatus.Waiting,
        Core.StepStatus.Retrying => StepStatus.Retrying,
        _ => StepStatus.Unspecified,
    };
}
