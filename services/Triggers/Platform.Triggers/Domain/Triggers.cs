using System.Security.Cryptography;
using Platform.BuildingBlocks.Errors;

namespace Platform.Triggers.Domain;

/// <summary>A webhook or event trigger as stored (times in UTC).</summary>
public sealed record TriggerRecord(
    Guid Id,
    Guid WorkflowId,
    string TeamId,
    string Type,
    string Verification,
    string Source,
    string DedupeHeader,
    string? InputMapping,
    string Filter,
    Guid? SourceWorkflowId,
    string OnStatus,
    string? Secret,
    string? PreviousSecret,
    DateTime? PreviousSecretExpiresAt,
    DateTime CreatedAt,
    DateTime? DeletedAt)
{
    /// <summary>The secrets a delivery may be signed with at <paramref name="now"/>: the current one, then the
    /// previous one during its grace period.</summary>
    public IReadOnlyList<string> AcceptedSecrets(DateTime now)
    {
        var secrets = new List<string>(2);
        if (Secret is not null)
        {
            secrets.Add(Secret);
        }

        if (PreviousSecret is not null && PreviousSecretExpiresAt > now)
        {
            secrets.Add(PreviousSecret);
        }

        return secrets;
    }
}

/// <summary>The vocabulary of triggers and the checks of a new one.</summary>
public static class TriggerRules
{
    public const string Webhook = "webhook";
    public const string Event = "event";
    public const string Alertmanager = "alertmanager";

    public static readonly string[] Verifications = ["hmac-sha256", "github", "standard-webhooks", "bearer"];
    public static readonly string[] Statuses = ["SUCCEEDED", "FAILED", "CANCELLED", "ANY"];

    /// <summary>The verification of a webhook trigger: as asked, or by source (Alertmanager cannot sign, it sends
    /// a bearer token), or HMAC-SHA256.</summary>
    public static string Verification(string requested, string source, List<FieldViolation> violations)
    {
        if (requested.Length == 0)
        {
            return source == Alertmanager ? "bearer" : "hmac-sha256";
        }

        if (!Verifications.Contains(requested))
        {
            violations.Add(new("verification", $"'{requested}' is not a verification: {string.Join(", ", Verifications)}"));
        }

        return requested;
    }

    public static string OnStatus(string requested, List<FieldViolation> violations)
    {
        var status = requested.Length == 0 ? "SUCCEEDED" : requested.ToUpperInvariant().Replace("EXECUTION_STATUS_", "", StringComparison.Ordinal);
        if (!Statuses.Contains(status))
        {
            violations.Add(new("on_status", $"'{requested}' is not a final status: SUCCEEDED, FAILED, CANCELLED or ANY"));
        }

        return status;
    }

    /// <summary>A new random secret. Standard Webhooks secrets are <c>whsec_</c> + base64 of the key bytes, as its
    /// libraries expect; the others are used as the UTF-8 bytes of the text, as GitHub does.</summary>
    public static string NewSecret(string verification)
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        return verification == "standard-webhooks"
            ? "whsec_" + Convert.ToBase64String(bytes)
            : Convert.ToHexStringLower(bytes);
    }
}
