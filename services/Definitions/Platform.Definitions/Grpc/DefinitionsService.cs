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
            [.. request.RunnerLabels]);
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

    public override async Task<Workflow> CreateWorkflow(CreateWorkflowRequest request, ServerCallContext context)
    {
        var document = ToDocument(request.Name, request.Description, request.Steps, request.Parallel, request.Trigger)
            with { TeamId = Domain.Teams.OrDefault(request.TeamId) };
        var compiled = await CompileAsync(document, Domain.SourceMap.Empty, context.CancellationToken);
        var saved = await workflows.CreateAsync(Guid.CreateVersion7(), compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Workflow> ImportWorkflow(ImportWorkflowRequest request, ServerCallContext context)
    {
        var parsed = Domain.WorkflowYaml.Parse(request.Yaml);
        var document = parsed.Document with { TeamId = Domain.Teams.Choose(request.TeamId, parsed.Document.TeamId) };
        var compiled = await CompileAsync(document, parsed.Source, context.CancellationToken);
        var saved = await workflows.CreateAsync(Guid.CreateVersion7(), compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Workflow> GetWorkflow(GetWorkflowRequest request, ServerCallContext context) =>
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

    public override async Task<Workflow> UpdateWorkflow(UpdateWorkflowRequest request, ServerCallContext context)
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

        var document = ToDocument(request.Name, request.Description, request.Steps, request.Parallel, request.Trigger)
            with { TeamId = current.TeamId };
        var compiled = await CompileAsync(document, Domain.SourceMap.Empty, context.CancellationToken);
        var saved = await workflows.UpdateAsync(current.Id, compiled, Now(), context.CancellationToken);
        return ToProto(saved);
    }

    public override async Task<Workflow> ArchiveWorkflow(ArchiveWorkflowRequest request, ServerCallContext context) =>
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
        var agentsById = await agents.GetManyAsync(dag.Steps.Select(s => s.AgentId), context.CancellationToken);
        var resolved = new ResolvedWorkflowRevision { WorkflowId = id.ToString(), Revision = revision, Name = name, Archived = archived };
        foreach (var step in dag.Steps)
        {
            var message = new ResolvedStep { Name = step.Name, Agent = ToProto(agentsById[step.AgentId]) };
            message.DependsOn.AddRange(step.DependsOn);
            if (step.With is { } with)
            {
                message.With = ToStruct(with);
            }

            resolved.Steps.Add(message);
        }

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
        RepeatedField<Step> parallel, Protos.Definitions.V1.WorkflowTrigger? trigger)
    {
        var violations = new List<FieldViolation>();
        var document = new Domain.WorkflowDocument
        {
            Name = name,
            Description = description,
            Steps = [.. steps.Select((s, i) => ToStep(s, $"steps[{i}]", violations))],
            Parallel = [.. parallel.Select((s, i) => ToStep(s, $"parallel[{i}]", violations))],
            Trigger = trigger is null ? null : new Domain.WorkflowTrigger(trigger.Type, trigger.Source, trigger.Cron, trigger.Timezone),
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
            With = step.With is null ? null : JsonSerializer.Deserialize<JsonElement>(JsonFormatter.Default.Format(step.With)),
        };
    }

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
        };
        message.Command.AddRange(spec.Command);
        foreach (var (key, value) in spec.Env)
        {
            message.Env[key] = value;
        }

        message.RunnerLabels.AddRange(spec.RunnerLabels);
        return message;
    }

    private static Workflow ToProto(Domain.SavedWorkflow workflow)
    {
        var document = workflow.Document;
        var message = new Workflow
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
        };
        message.Steps.AddRange(document.Steps.Select(ToProto));
        message.Parallel.AddRange(document.Parallel.Select(ToProto));
        return message;
    }

    private static Step ToProto(Domain.StepItem step)
    {
        var message = new Step { Name = step.Name, Type = step.Type, AgentId = step.AgentId, Agent = step.Agent };
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
