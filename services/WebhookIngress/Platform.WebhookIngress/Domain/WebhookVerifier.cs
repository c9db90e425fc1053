using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Platform.WebhookIngress.Domain;

/// <summary>The headers of one request, by case-insensitive name.</summary>
public delegate string? HeaderLookup(string name);

/// <summary>
/// Verifies that a delivery comes from the holder of one of the trigger's secrets. Every comparison is constant-time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/>), so the time an answer takes says nothing about how much
/// of a guessed signature was right.
/// </summary>
public static class WebhookVerifier
{
    public const string HmacSha256 = "hmac-sha256";
    public const string GitHub = "github";
    public const string StandardWebhooks = "standard-webhooks";
    public const string Bearer = "bearer";

    /// <summary>Standard Webhooks: a timestamp further than this from now is refused (replay protection).</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    /// <returns>null when the delivery is authentic; otherwise why it is rejected.</returns>
    public static string? Verify(string verification, IReadOnlyList<string> secrets, ReadOnlySpan<byte> body,
        HeaderLookup header, DateTimeOffset now)
    {
        if (secrets.Count == 0)
        {
            return "the trigger has no secret";
        }

        return verification switch
        {
            HmacSha256 => VerifyHex(header("X-Webhook-Signature"), "X-Webhook-Signature", optionalPrefix: true, secrets, body),
            GitHub => VerifyHex(header("X-Hub-Signature-256"), "X-Hub-Signature-256", optionalPrefix: false, secrets, body),
            StandardWebhooks => VerifyStandard(header, secrets, body, now),
            Bearer => VerifyBearer(header("Authorization"), secrets),
            _ => $"unknown verification '{verification}'",
        };
    }

    /// <summary>hex(HMAC-SHA256(secret, body)), as <c>X-Webhook-Signature</c> carries it.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>The <c>webhook-signature</c> of Standard Webhooks: <c>v1,</c> + base64 of HMAC-SHA256 over
    /// <c>{id}.{timestamp}.{body}</c>, keyed by the base64 part of a <c>whsec_</c> secret.</summary>
    public static string SignStandard(string secret, string id, long timestamp, ReadOnlySpan<byte> body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(StandardKey(secret), StandardContent(id, timestamp, body)));

    private static string? VerifyHex(string? value, string name, bool optionalPrefix, IReadOnlyList<string> secrets, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(value))
        {
            return $"missing {name} header";
        }

        const string prefix = "sha256=";
        if (value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            value = value[prefix.Length..];
        }
        else if (!optionalPrefix)
        {
            return $"{name} must be sha256=<hex>";
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(value.Trim());
        }
        catch (FormatException)
        {
            return $"{name} is not hexadecimal";
        }

        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        foreach (var secret in secrets)
        {
            HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body, expected);
            if (CryptographicOperations.FixedTimeEquals(expected, given))
            {
                return null;
            }
        }

        return $"{name} does not match the body";
    }

    private static string? VerifyStandard(HeaderLookup header, IReadOnlyList<string> secrets, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        var id = header("webhook-id");
        var timestampText = header("webhook-timestamp");
        var signatures = header("webhook-signature");
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(timestampText) || string.IsNullOrEmpty(signatures))
        {
            return "missing webhook-id, webhook-timestamp or webhook-signature header";
        }

        if (!long.TryParse(timestampText, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp))
        {
            return "webhook-timestamp is not a number of seconds";
        }

        var age = now - DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(timestamp, 0, 253_402_300_799));
        if (age.Duration() > Tolerance)
        {
            return "webhook-timestamp is more than 5 minutes from now";
        }

        var content = StandardContent(id, timestamp, body);
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Span<byte> given = stackalloc byte[64];
        foreach (var secret in secrets)
        {
            HMACSHA256.HashData(StandardKey(secret), content, expected);
            // Space-separated "v1,<base64>" entries: several signatures while the sender rotates its secret.
            foreach (var entry in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (entry.StartsWith("v1,", StringComparison.Ordinal)
                    && Convert.TryFromBase64String(entry[3..], given, out var written)
                    && CryptographicOperations.FixedTimeEquals(expected, given[..written]))
                {
                    return null;
                }
            }
        }

        return "webhook-signature does not match";
    }

    private static string? VerifyBearer(string? authorization, IReadOnlyList<string> secrets)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return "missing Authorization: Bearer header";
        }

        // Hashes of equal length compare in constant time whatever the token's length.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()));
        foreach (var secret in secrets)
        {
            if (CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(secret)), given))
            {
                return null;
            }
        }

        return "the bearer token is not the trigger's secret";
    }

    private static byte[] StandardKey(string secret)
    {
        const string prefix = "whsec_";
        return secret.StartsWith(prefix, StringComparison.Ordinal)
            ? Convert.FromBase64String(secret[prefix.Length..])
            : Encoding.UTF8.GetBytes(secret);
    }

    private static byte[] StandardContent(string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{id}.{timestamp}."));
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return content;
    }
}
