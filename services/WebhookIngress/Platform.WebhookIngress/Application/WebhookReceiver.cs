using Microsoft.AspNetCore.Http;
using Platform.WebhookIngress.Domain;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress.Application;

/// <summary>What the ingress answers: 202 with the delivery id (also for a duplicate), 401 when the delivery is
/// not authentic (recorded as rejected), 404 when there is no such webhook trigger.</summary>
public sealed record ReceiveResult(int StatusCode, Guid? DeliveryId, bool Duplicate, string? Error);

/// <summary>Verifies a delivery and records it; the answer is given only after the record is committed.</summary>
public sealed class WebhookReceiver(TriggerDirectory directory, DeliveryStore store, TimeProvider clock)
{
    // Headers that carry credentials are not stored with a delivery.
    private static readonly HashSet<string> SecretHeaders = new(StringComparer.OrdinalIgnoreCase) { "Authorization", "Cookie" };

    public async Task<ReceiveResult> ReceiveAsync(Guid triggerId, byte[] body, IHeaderDictionary requestHeaders, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var trigger = await directory.GetAsync(triggerId, cancellationToken);
        if (trigger is null)
        {
            return new ReceiveResult(StatusCodes.Status404NotFound, null, false, $"no webhook trigger '{triggerId}'");
        }

        HeaderLookup header = name => requestHeaders.TryGetValue(name, out var values) ? values.ToString() : null;
        var rejection = WebhookVerifier.Verify(trigger.Verification, trigger.Secrets, body, header, now);
        if (rejection is not null && await directory.RefreshAsync(triggerId, now, cancellationToken) is { } fresh)
        {
            // Perhaps signed with a secret rotated since the settings were cached.
            trigger = fresh;
            rejection = WebhookVerifier.Verify(trigger.Verification, trigger.Secrets, body, header, now);
        }

        var headers = requestHeaders.Where(h => !SecretHeaders.Contains(h.Key))
            .ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var id = Guid.CreateVersion7();
        if (rejection is not null)
        {
            await store.RejectAsync(id, triggerId, rejection, headers, body.Length, now, cancellationToken);
            return new ReceiveResult(StatusCodes.Status401Unauthorized, id, false, rejection);
        }

        var dedupeKey = DedupeKeys.Derive(trigger.Source, trigger.DedupeHeader, body, header) ?? "delivery:" + id;
        var (deliveryId, duplicate) = await store.AcceptAsync(
            new AcceptedDelivery(id, triggerId, dedupeKey, body, headers, now, null), cancellationToken);
        return new ReceiveResult(StatusCodes.Status202Accepted, deliveryId, duplicate, null);
    }

    /// <summary>A new delivery with an accepted one's request, keyed by its own id: it starts a new execution.</summary>
    public async Task<Guid?> ReplayAsync(Guid triggerId, Guid deliveryId, CancellationToken cancellationToken)
    {
        if (await store.RequestAsync(deliveryId) is not { } request)
        {
            return null;
        }

        var id = Guid.CreateVersion7();
        await store.AcceptAsync(new AcceptedDelivery(id, triggerId, "replay:" + id, request.Body, request.Headers,
            clock.GetUtcNow(), deliveryId), cancellationToken);
        return id;
    }
}
