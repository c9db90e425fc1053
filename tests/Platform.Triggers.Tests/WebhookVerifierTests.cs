using System.Security.Cryptography;
using System.Text;
using Platform.WebhookIngress.Domain;

namespace Platform.Triggers.Tests;

public sealed class WebhookVerifierTests
{
    private const string Secret = "s3cr3t-of-the-trigger";
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"action\":\"opened\",\"number\":42}");

    private static HeaderLookup Headers(params (string Name, string Value)[] headers) =>
        name => headers.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Value;

    private static string? Verify(string kind, HeaderLookup headers, params string[] secrets) =>
        WebhookVerifier.Verify(kind, secrets.Length == 0 ? [Secret] : secrets, Body, headers, Now);

    [Fact]
    public void Hmac_signature_in_hex_of_the_raw_body_is_accepted()
    {
        var hex = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Body));

        Assert.Null(Verify("hmac-sha256", Headers(("X-Webhook-Signature", hex))));
        Assert.Null(Verify("hmac-sha256", Headers(("x-webhook-signature", hex.ToUpperInvariant()))));
        Assert.Null(Verify("hmac-sha256", Headers(("X-Webhook-Signature", "sha256=" + hex))));
    }

    [Fact]
    public void Hmac_signature_of_another_body_or_secret_is_refused()
    {
        var otherBody = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), "{}"u8));
        var otherSecret = WebhookVerifier.Sign("another secret", Body);

        Assert.Equal("X-Webhook-Signature does not match the body", Verify("hmac-sha256", Headers(("X-Webhook-Signature", otherBody))));
        Assert.NotNull(Verify("hmac-sha256", Headers(("X-Webhook-Signature", otherSecret))));
        Assert.Equal("missing X-Webhook-Signature header", Verify("hmac-sha256", Headers()));
        Assert.Equal("X-Webhook-Signature is not hexadecimal", Verify("hmac-sha256", Headers(("X-Webhook-Signature", "zz"))));
        // A prefix of the right signature is not the signature.
        Assert.NotNull(Verify("hmac-sha256", Headers(("X-Webhook-Signature", WebhookVerifier.Sign(Secret, Body)[..32]))));
    }

    [Fact]
    public void GitHub_signature_is_sha256_prefixed_hex_in_X_Hub_Signature_256()
    {
        var hex = WebhookVerifier.Sign(Secret, Body);

        Assert.Null(Verify("github", Headers(("X-Hub-Signature-256", "sha256=" + hex))));
        Assert.Equal("X-Hub-Signature-256 must be sha256=<hex>", Verify("github", Headers(("X-Hub-Signature-256", hex))));
        Assert.Equal("missing X-Hub-Signature-256 header", Verify("github", Headers(("X-Webhook-Signature", hex))));
    }

    [Fact]
    public void GitHub_documented_example_verifies()
    {
        // The example of GitHub's "Validating webhook deliveries" page: secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        var signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        var verdict = WebhookVerifier.Verify("github", ["It's a Secret to Everybody"], "Hello, World!"u8,
            Headers(("X-Hub-Signature-256", signature)), Now);

        Assert.Null(verdict);
    }

    [Fact]
    public void Standard_webhooks_signature_over_id_timestamp_and_body_is_accepted_within_five_minutes()
    {
        var secret = "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("a key of thirty-two bytes length"));
        var timestamp = Now.AddMinutes(-4).ToUnixTimeSeconds();
        var signature = WebhookVerifier.SignStandard(secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp, Body);

        Assert.Null(Verify("standard-webhooks", Headers(("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
            ("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("webhook-signature", "v1,bm90IHRoaXMgb25l " + signature)), secret));
        // The same signature with another id, or a timestamp outside the tolerance, is refused.
        Assert.Equal("webhook-signature does not match", Verify("standard-webhooks", Headers(("webhook-id", "msg_other"),
            ("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("webhook-signature", signature)), secret));
        var old = Now.AddMinutes(-6).ToUnixTimeSeconds();
        var oldSignature = WebhookVerifier.SignStandard(secret, "msg_1", old, Body);
        Assert.Equal("webhook-timestamp is more than 5 minutes from now", Verify("standard-webhooks", Headers(("webhook-id", "msg_1"),
            ("webhook-timestamp", old.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("webhook-signature", oldSignature)), secret));
        Assert.NotNull(Verify("standard-webhooks", Headers(("webhook-id", "msg_1")), secret));
    }

    [Fact]
    public void Standard_webhooks_reference_signature_verifies()
    {
        // The test vector of the Standard Webhooks libraries.
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        const long timestamp = 1614265330;
        var body = "{\"test\": 2432232314}"u8.ToArray();
        var at = DateTimeOffset.FromUnixTimeSeconds(timestamp);

        var verdict = WebhookVerifier.Verify("standard-webhooks", [secret], body, Headers(("webhook-id", id),
            ("webhook-timestamp", "1614265330"), ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")), at);

        Assert.Null(verdict);
    }

    [Fact]
    public void Bearer_token_must_equal_the_secret()
    {
        Assert.Null(Verify("bearer", Headers(("Authorization", "Bearer " + Secret))));
        Assert.Equal("the bearer token is not the trigger's secret", Verify("bearer", Headers(("Authorization", "Bearer " + Secret + "x"))));
        Assert.Equal("missing Authorization: Bearer header", Verify("bearer", Headers(("Authorization", "Basic abc"))));
    }

    [Fact]
    public void After_a_rotation_both_the_new_and_the_previous_secret_verify()
    {
        var previous = WebhookVerifier.Sign("previous", Body);
        var current = WebhookVerifier.Sign("current", Body);

        Assert.Null(Verify("hmac-sha256", Headers(("X-Webhook-Signature", previous)), "current", "previous"));
        Assert.Null(Verify("hmac-sha256", Headers(("X-Webhook-Signature", current)), "current", "previous"));
        Assert.NotNull(Verify("hmac-sha256", Headers(("X-Webhook-Signature", previous)), "current"));
    }
}
