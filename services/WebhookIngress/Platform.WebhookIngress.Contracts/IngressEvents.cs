namespace Platform.WebhookIngress.Contracts;

/// <summary>
/// A verified webhook delivery, durably recorded by the ingress. <paramref name="DedupeKey"/> is the same for every
/// copy the sender delivered (its delivery id, or a key derived from the payload), so the execution it starts can
/// be keyed by it; a replay has a key of its own. The message is sent again until Triggers answers with
/// <c>WebhookDeliveryProcessed</c>, so it may arrive more than once.
/// </summary>
public sealed record WebhookReceived(
    Guid DeliveryId,
    Guid TriggerId,
    string DedupeKey,
    string Body,
    IReadOnlyDictionary<string, string> Headers,
    DateTimeOffset ReceivedAt,
    Guid? ReplayOf);
