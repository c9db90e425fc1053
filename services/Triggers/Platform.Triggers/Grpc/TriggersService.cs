using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Triggers.V1;
using Platform.Triggers.Domain;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Grpc;

internal sealed class TriggersService(
    TriggerStore store, Definitions.DefinitionsClient definitions, TimeProvider clock, IConfiguration configuration)
    : Protos.Triggers.V1.Triggers.TriggersBase
{
    private static readonly TimeSpan DefaultGrace = TimeSpan.FromDays(1);

    /// <summary>Where the webhook ingress is reached from outside (Triggers:WebhookBaseUrl).</summary>
    private string BaseUrl => (configuration["Triggers:WebhookBaseUrl"] ?? "http://127.0.0.1:8080").TrimEnd('/');

    public override async Task<Trigger> CreateTrigger(CreateTriggerRequest request, ServerCallContext context)
    {
        var violations = new List<FieldViolation>();
        var type = request.Type.Length == 0 ? TriggerRules.Webhook : request.Type;
        var verification = "";
        var onStatus = "";
        Guid? sourceWorkflow = null;
        switch (type)
        {
            case TriggerRules.Webhook:
                verification = TriggerRules.Verification(request.Verification, request.Source, violations);
                if (request.SourceWorkflowId.Length > 0 || request.OnStatus.Length > 0)
                {
                    violations.Add(new("source_workflow_id", "applies to event triggers only"));
                }

                break;
            case TriggerRules.Event:
                onStatus = TriggerRules.OnStatus(request.OnStatus, violations);
                if (request.Verification.Length > 0 || request.DedupeHeader.Length > 0)
                {
                    violations.Add(new("verification", "applies to webhook triggers only"));
                }

                if (request.SourceWorkflowId.Length == 0)
                {
                    violations.Add(new("source_workflow_id", "is required: the workflow whose executions start this one"));
                }

                break;
            default:
                violations.Add(new("type", $"'{request.Type}' is not a trigger type: webhook or event (schedules are /api/v1/schedules)"));
                break;
        }

        var mapping = request.InputMapping is null ? null : JsonNode.Parse(Mapping.Json(request.InputMapping))!.AsObject();
        try
        {
            PayloadMapping.Create(mapping, request.Filter);
        }
        catch (ValidationFailedException ex)
        {
            violations.AddRange(ex.Violations);
        }

        if (violations.Count > 0)
        {
            throw new ValidationFailedException(violations);
        }

        var workflowId = await Mapping.ExistingWorkflowAsync(definitions, request.WorkflowId, "workflow_id", context.CancellationToken);
        if (type == TriggerRules.Event)
        {
            sourceWorkflow = await Mapping.ExistingWorkflowAsync(definitions, request.SourceWorkflowId, "source_workflow_id",
                context.CancellationToken);
        }

        var record = new TriggerRecord(Guid.CreateVersion7(), workflowId, request.TeamId, type, verification, request.Source,
            request.DedupeHeader, mapping is { Count: > 0 } ? mapping.ToJsonString() : null, request.Filter, sourceWorkflow, onStatus,
            type == TriggerRules.Webhook ? TriggerRules.NewSecret(verification) : null, null, null, clock.GetUtcNow().UtcDateTime, null);
        await store.InsertAsync(record);
        return ToProto(record, withSecret: true);
    }

    public override async Task<Trigger> GetTrigger(TriggerRequest request, ServerCallContext context) =>
        ToProto(await Find(request.Id), withSecret: false);

    public override async Task<ListTriggersResponse> ListTriggers(ListTriggersRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var rows = await store.ListAsync(Mapping.OptionalId(request.WorkflowId, "workflow_id"), offset, size);
        var response = new ListTriggersResponse { NextPageToken = Paging.NextToken(offset, size, rows.Count) };
        response.Triggers.AddRange(rows.Select(r => ToProto(r, withSecret: false)));
        return response;
    }

    public override async Task<Trigger> RotateTriggerSecret(RotateTriggerSecretRequest request, ServerCallContext context)
    {
        if (request.GraceSeconds < 0)
        {
            throw new ValidationFailedException("grace_seconds", "must not be negative");
        }

        var trigger = await Find(request.Id);
        if (trigger.Type != TriggerRules.Webhook)
        {
            throw new PreconditionFailedException("only a webhook trigger has a secret");
        }

        var grace = request.GraceSeconds == 0 ? DefaultGrace : TimeSpan.FromSeconds(request.GraceSeconds);
        var rotated = await store.RotateSecretAsync(trigger.Id, TriggerRules.NewSecret(trigger.Verification),
            clock.GetUtcNow() + grace) ?? throw new NotFoundException("trigger", request.Id);
        return ToProto(rotated, withSecret: true);
    }

    public override async Task<Trigger> DeleteTrigger(TriggerRequest request, ServerCallContext context) =>
        ToProto(await store.DeleteAsync(Ids.Parse(request.Id, "trigger"), clock.GetUtcNow())
            ?? throw new NotFoundException("trigger", request.Id), withSecret: false);

    public override async Task<WebhookVerification> GetWebhookVerification(TriggerRequest request, ServerCallContext context)
    {
        var trigger = await Find(request.Id);
        if (trigger.Type != TriggerRules.Webhook)
        {
            throw new NotFoundException("webhook trigger", request.Id);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var verification = new WebhookVerification
        {
            TriggerId = trigger.Id.ToString(),
            Verification = trigger.Verification,
            Source = trigger.Source,
            DedupeHeader = trigger.DedupeHeader,
        };
        verification.Secrets.AddRange(trigger.AcceptedSecrets(now));
        if (trigger.PreviousSecretExpiresAt is { } expires && expires > now)
        {
            verification.ValidUntil = Mapping.Time(expires);
        }

        return verification;
    }

    private async Task<TriggerRecord> Find(string id) =>
        await store.GetAsync(Ids.Parse(id, "trigger")) ?? throw new NotFoundException("trigger", id);

    private Trigger ToProto(TriggerRecord record, bool withSecret)
    {
        var trigger = new Trigger
        {
            Id = record.Id.ToString(),
            WorkflowId = record.WorkflowId.ToString(),
            TeamId = record.TeamId,
            Type = record.Type,
            Verification = record.Verification,
            Source = record.Source,
            DedupeHeader = record.DedupeHeader,
            Filter = record.Filter,
            SourceWorkflowId = record.SourceWorkflowId?.ToString() ?? "",
            OnStatus = record.OnStatus,
            Url = record.Type == TriggerRules.Webhook ? $"{BaseUrl}/hooks/{record.Id}" : "",
            Secret = withSecret ? record.Secret ?? "" : "",
            PreviousSecretExpiresAt = Mapping.Time(record.PreviousSecretExpiresAt),
            CreatedAt = Mapping.Time(record.CreatedAt),
        };
        if (record.InputMapping is { } mapping)
        {
            trigger.InputMapping = Mapping.Struct(mapping);
        }

        return trigger;
    }
}
