using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Persistence;
using Platform.Protos.Definitions.V1;
using Domain = Platform.Definitions.Domain;
using DefinitionsApi = Platform.Protos.Definitions.V1.Definitions;

namespace Platform.Definitions.Grpc;

/// <summary>The Definitions context's API: maps proto messages to the domain model and back.</summary>
internal sealed class DefinitionsService(AgentRepository agents, WorkflowRepository workflows, TimeProvider time)
    : DefinitionsApi.DefinitionsBase
{
    public override async Task<Agent> CreateAgent(CreateAgentRequest request, ServerCallContext context)
    {
        var spec = new Domain.AgentSpec(
            Domain.Teams.OrDefault(request.TeamId),
            request.Name,
            request.Description,
            [.. request.Command],
            request.Image,
            request.Env.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
            [.. request.RunnerLabels])
        {
            Executor = request.Executor.Trim().ToLowerInvariant(),
            Resources = request.Resources is { } r
                ? new Domain.AgentResources(r.CpuRequest.Trim(), r.CpuLimit.Trim(), r.MemoryRequest.Trim(), r.MemoryLimit.Trim())
                : Domain.AgentResources.None,
        };
        if (spec.Validate() is { Count: > 0 } violations)
        {
            throw new ValidationFailedException(violations);
        }

        var agent = await agents.CreateAsync(new Domain.Agent(Guid.CreateVersion7(), spec, Now()), context.CancellationToken);
        return ToProto(agent);
    }

    public override async Task<Agent> GetAgent(GetAgentRequest request, ServerCallContext context)
    {
        var agent = await agents.GetAsync(Ids.Parse(request.Id, "agent"), context.CancellationToken)
            ?? throw new NotFoundException("agent", request.Id);
        return ToProto(agent);
    }

    public override async Task<ListAgentsResponse> ListAgents(ListAgentsRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var page = await agents.ListAsync(Domain.Teams.OrDefault(request.TeamId), offset, size, context.CancellationToken);
        var response = new ListAgentsResponse { NextPageToken = Paging.NextToken(offset, size, page.Count) };
        response.Agents.AddRange(page.Select(ToProto));
        return response;
    }

    public override async Task<Protos.Definitions.V1.Workflow> CreateWorkflow(CreateWorkflowRequest request, ServerCallContext context)
    {
        var document = ToDocument(request.Name, request.Description, request.Steps, request.Parallel, request.Trigger,
            request.Timeout) with { TeamId = Domain.Teams.OrDefault(request.TeamId) };
        var compiled = await CompileAsync(document, Domain.SourceMap.Empty, context.CancellationToken);
        var saved = await workflows.CreateAsync(Guid.CreateVersion7(), compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Protos.Definitions.V1.Workflow> ImportWorkflow(ImportWorkflowRequest request, ServerCallContext context)
    {
        var parsed = Domain.WorkflowYaml.Parse(request.Yaml);
        var document = parsed.Document with { TeamId = Domain.Teams.Choose(request.TeamId, parsed.Document.TeamId) };
        var compiled = await CompileAsync(document, parsed.Source, context.CancellationToken);
        var saved = await workflows.CreateAsync(Guid.CreateVersion7(), compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Protos.Definitions.V1.Workflow> GetWorkflow(GetWorkflowRequest request, ServerCallContext context) =>
        ToProto(await FindWorkflowAsync(request.Id, context.CancellationToken));

    public override async Task<ListWorkflowsResponse> ListWorkflows(ListWorkflowsRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var page = await workflows.ListAsync(Domain.Teams.OrDefault(request.TeamId), request.IncludeArchived, offset, size,
            context.CancellationToken);
        var response = new ListWorkflowsResponse { NextPageToken = Paging.NextToken(offset, size, page.Count) };
        response.Workflows.AddRange(page.Select(ToProto));
        return response;
    }

    public override async Task<Protos.Definitions.V1.Workflow> UpdateWorkflow(UpdateWorkflowRequest request, ServerCallContext context)
    {
        var current = await FindWorkflowAsync(request.Id, context.CancellationToken);
        if (current.Archived)
        {
            throw new PreconditionFailedException($"workflow '{current.Id}' is archived; archived workflows cannot be changed");
        }

        if (request.TeamId.Length > 0 && request.TeamId != current.TeamId)
        {
            throw new ValidationFailedException("team_id", $"a workflow stays in its team ('{current.TeamId}')");
        }

        var document = ToDocument(request.Name, request.Description, request.Steps, request.Parallel, request.Trigger,
            request.Timeout) with { TeamId = current.TeamId };
        var compiled = await CompileAsync(document, Domain.SourceMap.Empty, context.CancellationToken);
        var saved = await workflows.UpdateAsync(current.Id, compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Protos.Definitions.V1.Workflow> ArchiveWorkflow(ArchiveWorkflowRequest request, ServerCallContext context) =>
        ToProto(await workflows.ArchiveAsync(Ids.Parse(request.Id, "workflow"), Now(), context.CancellationToken));

    public override async Task<ListWorkflowRevisionsResponse> ListWorkflowRevisions(ListWorkflowRevisionsRequest request,
        ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var page = await workflows.ListRevisionsAsync(Ids.Parse(request.Id, "workflow"), offset, size, context.CancellationToken)
            ?? throw new NotFoundException("workflow", request.Id);
        var response = new ListWorkflowRevisionsResponse { NextPageToken = Paging.NextToken(offset, size, page.Count) };
        response.Revisions.AddRange(page.Select(ToProto));
        return response;
    }

    public override async Task<WorkflowRevision> GetWorkflowRevision(GetWorkflowRevisionRequest request, ServerCallContext context)
    {
        var revision = await workflows.GetRevisionAsync(Ids.Parse(request.Id, "workflow"), request.Revision, context.CancellationToken)
            ?? throw new NotFoundException("workflow revision", $"{request.Id}/{request.Revision}");
        return ToProto(revision);
    }

    public override async Task<ResolvedWorkflowRevision> ResolveWorkflowRevision(ResolveWorkflowRevisionRequest request,
        ServerCallContext context)
    {
        var id = Ids.Parse(request.WorkflowId, "workflow");
        if (request.Revision < 0)
        {
            throw new ValidationFailedException("revision", "must be a revision number, or 0 for the latest");
        }

        var (revision, name, archived, dag) = await workflows.GetDagAsync(id, request.Revision, context.CancellationToken)
            ?? throw (request.Revision == 0
                ? new NotFoundException("workflow", request.WorkflowId)
                : new NotFoundException("workflow revision", $"{request.WorkflowId}/{request.Revision}"));
        var agentsById = await agents.GetManyAsync(dag.AgentIds, context.CancellationToken);
        var resolved = new ResolvedWorkflowRevision
        {
            WorkflowId = id.ToString(), Revision = revision, Name = name, Archived = archived, TimeoutMs = dag.TimeoutMs,
        };
        resolved.Steps.AddRange(dag.Steps.Select(step => ToProto(step, agentsById)));
        return resolved;
    }

    private async Task<Domain.SavedWorkflow> FindWorkflowAsync(string id, CancellationToken cancellationToken) =>
        await workflows.GetAsync(Ids.Parse(id, "workflow"), cancellationToken) ?? throw new NotFoundException("workflow", id);

    /// <summary>Looks up the agents the document names in its team and compiles it; positions of an imported
    /// document are added to the violations.</summary>
    private async Task<Domain.CompiledWorkflow> CompileAsync(Domain.WorkflowDocument document, Domain.SourceMap source,
        CancellationToken cancellationToken)
    {
        var directory = await agents.DirectoryAsync(document.TeamId!, Domain.AgentReferences.Of(document), cancellationToken);
        try
        {
            return Domain.WorkflowCompiler.Compile(document, directory);
        }
        catch (ValidationFailedException failure)
        {
            throw source.Annotate(failure);
        }
    }

    /// <summary>Microsecond precision, as PostgreSQL stores it, so a created resource reads back the same.</summary>
    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % 10));
    }

    // ---- proto → domain ----

    private static Domain.WorkflowDocument ToDocument(string name, string description, RepeatedField<Step> steps,
        RepeatedField<Step> parallel, Protos.Definitions.V1.WorkflowTrigger? trigger, string timeout)
    {
        var violations = new List<FieldViolation>();
        var document = new Domain.WorkflowDocument
        {
            Name = name,
            Description = description,
            Steps = [.. steps.Select((s, i) => ToStep(s, $"steps[{i}]", violations))],
            Parallel = [.. parallel.Select((s, i) => ToStep(s, $"parallel[{i}]", violations))],
            Trigger = trigger is null ? null : new Domain.WorkflowTrigger(trigger.Type, trigger.Source, trigger.Cron, trigger.Timezone),
            Timeout = timeout,
        };
        return violations.Count > 0 ? throw new ValidationFailedException(violations) : document;
    }

    private static Domain.StepItem ToStep(Step step, string path, List<FieldViolation> violations)
    {
        List<string>? requires = null;
        if (step.Requires is { } list)
        {
            requires = [];
            for (var j = 0; j < list.Values.Count; j++)
            {
                if (list.Values[j].KindCase == Value.KindOneofCase.StringValue)
                {
                    requires.Add(list.Values[j].StringValue);
                }
                else
                {
                    violations.Add(new($"{path}.requires[{j}]", "must be a step name"));
                }
            }
        }

        return new Domain.StepItem
        {
            Name = step.Name,
            Type = step.Type,
            AgentId = step.AgentId,
            Agent = step.Agent,
            Requires = requires,
            Parallel = step.Parallel.Count > 0
                ? [.. step.Parallel.Select((m, j) => ToStep(m, $"{path}.parallel[{j}]", violations))]
                : null,
            With = ToJson(step.With),
            If = step.If,
            Retry = ToRetry(step.Retry),
            Timeout = step.Timeout,
            Compensate = step.Compensate is { } compensate
                ? new Domain.CompensationSpec(compensate.Agent, compensate.AgentId, ToJson(compensate.With))
                : null,
            ContinueOnFailure = step.ContinueOnFailure ? true : null,
        };
    }

    /// <summary>Proto3 scalars have no presence: 0 attempts and a 0 multiplier read as not given.</summary>
    private static Domain.RetrySpec? ToRetry(RetryPolicy? retry) =>
        retry is null
            ? null
            : new Domain.RetrySpec(
                retry.MaxAttempts == 0 ? null : retry.MaxAttempts,
                retry.Backoff is { } backoff
                    ? new Domain.BackoffSpec(backoff.Initial, backoff.Max, backoff.Multiplier == 0 ? null : backoff.Multiplier,
                        backoff.HasJitter ? backoff.Jitter : null)
                    : null,
                retry.NonRetryableExitCodes.Count > 0 ? [.. retry.NonRetryableExitCodes] : null);

    private static JsonElement? ToJson(Struct? value) =>
        value is null ? null : JsonSerializer.Deserialize<JsonElement>(JsonFormatter.Default.Format(value));

    // ---- domain → proto ----

    private static Agent ToProto(Domain.Agent agent)
    {
        var spec = agent.Spec;
        var message = new Agent
        {
            Id = agent.Id.ToString(),
            Name = spec.Name,
            Description = spec.Description,
            Image = spec.Image,
            TeamId = spec.TeamId,
            CreatedAt = Timestamp.FromDateTimeOffset(agent.CreatedAt),
            Executor = spec.Executor,
            Resources = new AgentResources
            {
                CpuRequest = spec.Resources.CpuRequest,
                CpuLimit = spec.Resources.CpuLimit,
                MemoryRequest = spec.Resources.MemoryRequest,
                MemoryLimit = spec.Resources.MemoryLimit,
            },
        };
        message.Command.AddRange(spec.Command);
        foreach (var (key, value) in spec.Env)
        {
            message.Env[key] = value;
        }

        message.RunnerLabels.AddRange(spec.RunnerLabels);
        return message;
    }

    private static Protos.Definitions.V1.Workflow ToProto(Domain.SavedWorkflow workflow)
    {
        var document = workflow.Document;
        var message = new Protos.Definitions.V1.Workflow
        {
            Id = workflow.Id.ToString(),
            Name = document.Name,
            Description = document.Description,
            TeamId = workflow.TeamId,
            Revision = workflow.Revision,
            Trigger = ToProto(document.Trigger),
            Archived = workflow.Archived,
            CreatedAt = Timestamp.FromDateTimeOffset(workflow.CreatedAt),
            UpdatedAt = Timestamp.FromDateTimeOffset(workflow.UpdatedAt),
            Timeout = document.Timeout,
        };
        message.Steps.AddRange(document.Steps.Select(ToProto));
        message.Parallel.AddRange(document.Parallel.Select(ToProto));
        return message;
    }

    private static WorkflowRevision ToProto(Domain.SavedRevision revision)
    {
        var document = revision.Document;
        var message = new WorkflowRevision
        {
            WorkflowId = revision.WorkflowId.ToString(),
            Revision = revision.Revision,
            Name = document.Name,
            Description = document.Description,
            Trigger = ToProto(document.Trigger),
            CreatedAt = Timestamp.FromDateTimeOffset(revision.CreatedAt),
            Timeout = document.Timeout,
        };
        message.Steps.AddRange(document.Steps.Select(ToProto));
        message.Parallel.AddRange(document.Parallel.Select(ToProto));
        return message;
    }

    private static Step ToProto(Domain.StepItem step)
    {
        var message = new Step
        {
            Name = step.Name,
            Type = step.Type,
            AgentId = step.AgentId,
            Agent = step.Agent,
            If = step.If,
            Timeout = step.Timeout,
            ContinueOnFailure = step.ContinueOnFailure ?? false,
        };
        if (step.Requires is { } requires)
        {
            message.Requires = new ListValue();
            message.Requires.Values.AddRange(requires.Select(Value.ForString));
        }

        if (step.Parallel is { } members)
        {
            message.Parallel.AddRange(members.Select(ToProto));
        }

        if (step.With is { } with)
        {
            message.With = ToStruct(with);
        }

        if (step.Retry is { } retry)
        {
            message.Retry = new RetryPolicy { MaxAttempts = retry.MaxAttempts ?? 0 };
            if (retry.Backoff is { } backoff)
            {
                message.Retry.Backoff = new RetryBackoff
                {
                    Initial = backoff.Initial, Max = backoff.Max, Multiplier = backoff.Multiplier ?? 0,
                };
                if (backoff.Jitter is { } jitter)
                {
                    message.Retry.Backoff.Jitter = jitter;
                }
            }

            message.Retry.NonRetryableExitCodes.AddRange(retry.NonRetryableExitCodes ?? []);
        }

        if (step.Compensate is { } compensate)
        {
            message.Compensate = new Compensation { Agent = compensate.Agent, AgentId = compensate.AgentId };
            if (compensate.With is { } compensationWith)
            {
                message.Compensate.With = ToStruct(compensationWith);
            }
        }

        return message;
    }

    private static ResolvedStep ToProto(Domain.DagStep step, IReadOnlyDictionary<Guid, Domain.Agent> agentsById)
    {
        var message = new ResolvedStep
        {
            Name = step.Name,
            Type = step.Type,
            If = step.If,
            TimeoutMs = step.TimeoutMs,
            ContinueOnFailure = step.ContinueOnFailure,
        };
        message.DependsOn.AddRange(step.DependsOn);
        if (step.AgentId is { } agentId)
        {
            message.Agent = ToProto(agentsById[agentId]);
        }

        if (step.With is { } with)
        {
            message.With = ToStruct(with);
        }

        if (step.Retry is { } retry)
        {
            message.Retry = new ResolvedRetryPolicy
            {
                MaxAttempts = retry.MaxAttempts,
                InitialMs = retry.InitialMs,
                MaxMs = retry.MaxMs,
                Multiplier = retry.Multiplier,
                Jitter = retry.Jitter,
            };
            message.Retry.NonRetryableExitCodes.AddRange(retry.NonRetryableExitCodes);
        }

        if (step.Compensation is { } compensation)
        {
            message.Compensate = new ResolvedCompensation { Agent = ToProto(agentsById[compensation.AgentId]) };
            if (compensation.With is { } compensationWith)
            {
                message.Compensate.With = ToStruct(compensationWith);
            }
        }

        return message;
    }

    private static Protos.Definitions.V1.WorkflowTrigger? ToProto(Domain.WorkflowTrigger? trigger) =>
        trigger is null
            ? null
            : new Protos.Definitions.V1.WorkflowTrigger
            {
                Type = trigger.Type, Source = trigger.Source, Cron = trigger.Cron, Timezone = trigger.Timezone,
            };

    private static Struct ToStruct(JsonElement json) => JsonParser.Default.Parse<Struct>(json.GetRawText());
}
