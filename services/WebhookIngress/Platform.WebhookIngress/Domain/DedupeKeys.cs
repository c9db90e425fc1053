using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Platform.WebhookIngress.Domain;

/// <summary>
/// The key that makes copies of one delivery the same delivery: the sender's delivery id when it sends one, or for
/// Alertmanager (which sends none, and re-sends a group on every repeat interval) a key derived from the
/// notification: groupKey + status + the fingerprints of its alerts. A new alert in the group, or the group
/// resolving, is a new key; the same notification again is not.
/// </summary>
public static class DedupeKeys
{
    /// <summary>Delivery-id headers of common senders, looked at in this order when the trigger names none.</summary>
    public static readonly string[] DeliveryIdHeaders = ["webhook-id", "X-GitHub-Delivery", "X-Webhook-Id"];

    private const int MaxIdLength = 100;

    /// <returns>the key, or null when the delivery carries nothing to deduplicate by.</returns>
    public static string? Derive(string source, string dedupeHeader, ReadOnlySpan<byte> body, HeaderLookup header)
    {
        if (source == "alertmanager" && Alertmanager(body) is { } derived)
        {
            return derived;
        }

        foreach (var name in dedupeHeader.Length > 0 ? [dedupeHeader] : DeliveryIdHeaders)
        {
            if (header(name) is { Length: > 0 } id)
            {
                // Kept readable when short; long ids are hashed so the key stays small.
                return id.Length <= MaxIdLength ? "id:" + id : "idh:" + Hash(id);
            }
        }

        return null;
    }

    /// <summary>The Alertmanager key (webhook payload version 4), or null when the body is not such a payload.</summary>
    public static string? Alertmanager(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("groupKey", out var groupKey) || groupKey.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            var fingerprints = new List<string>();
            if (root.TryGetProperty("alerts", out var alerts) && alerts.ValueKind == JsonValueKind.Array)
            {
                foreach (var alert in alerts.EnumerateArray())
                {
                    // An alert without a fingerprint (older Alertmanagers) is known by its labels.
                    fingerprints.Add(alert.TryGetProperty("fingerprint", out var fp) && fp.ValueKind == JsonValueKind.String
                        ? fp.GetString()!
                        : alert.TryGetProperty("labels", out var labels) ? Hash(Canonical(labels)) : "");
                }
            }

            fingerprints.Sort(StringComparer.Ordinal);
            return "am:" + Hash($"{groupKey.GetString()}\n{status.GetString()}\n{string.Join(',', fingerprints)}");
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Canonical(JsonElement labels) => labels.ValueKind == JsonValueKind.Object
        ? string.Join('\n', labels.EnumerateObject().Select(p => $"{p.Name}={p.Value}").Order(StringComparer.Ordinal))
        : labels.ToString();

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
