namespace Platform.Triggers.Contracts;

/// <summary>
/// Triggers has processed a webhook delivery: <paramref name="Outcome"/> is <c>started</c> (with the execution),
/// <c>filtered</c> (the trigger's filter was false) or <c>failed</c> (with <paramref name="Detail"/>: the trigger is
/// gone, the workflow is archived, ...). Sent again if the delivery is sent again, so consumers must be idempotent.
/// </summary>
public sealed record WebhookDeliveryProcessed(Guid DeliveryId, Guid TriggerId, string Outcome, Guid? ExecutionId, string? Detail,
    DateTimeOffset ProcessedAt);
