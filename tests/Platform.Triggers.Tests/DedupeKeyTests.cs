using System.Text;
using System.Text.Json.Nodes;
using Platform.WebhookIngress.Domain;

namespace Platform.Triggers.Tests;

public sealed class DedupeKeyTests
{
    private static readonly HeaderLookup NoHeaders = _ => null;

    private static JsonObject Fixture() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "alertmanager-firing.json")))!.AsObject();

    private static string? Key(JsonObject payload, HeaderLookup? headers = null) =>
        DedupeKeys.Derive("alertmanager", "", Encoding.UTF8.GetBytes(payload.ToJsonString()), headers ?? NoHeaders);

    [Fact]
    public void The_same_Alertmanager_notification_sent_again_has_the_same_key()
    {
        var first = Fixture();
        var again = Fixture();
        // A repeat notification differs in its alerts' order and in nothing the key reads.
        var alerts = again["alerts"]!.AsArray();
        var moved = alerts[0]!;
        alerts.RemoveAt(0);
        alerts.Add(moved);

        Assert.StartsWith("am:", Key(first));
        Assert.Equal(Key(first), Key(again));
    }

    [Fact]
    public void A_resolved_group_or_a_new_alert_in_it_is_a_new_delivery()
    {
        var resolved = Fixture();
        resolved["status"] = "resolved";
        var grown = Fixture();
        grown["alerts"]!.AsArray().Add(new JsonObject { ["status"] = "firing", ["fingerprint"] = "0011223344556677" });

        Assert.NotEqual(Key(Fixture()), Key(resolved));
        Assert.NotEqual(Key(Fixture()), Key(grown));
    }

    [Fact]
    public void Alerts_without_fingerprints_are_known_by_their_labels()
    {
        var a = Fixture();
        foreach (var alert in a["alerts"]!.AsArray())
        {
            alert!.AsObject().Remove("fingerprint");
        }

        var b = JsonNode.Parse(a.ToJsonString())!.AsObject();
        b["alerts"]![0]!["labels"]!["instance"] = "elsewhere:8080";

        Assert.NotNull(Key(a));
        Assert.NotEqual(Key(a), Key(b));
    }

    [Fact]
    public void Other_senders_are_deduplicated_by_their_delivery_id_header()
    {
        HeaderLookup github = name => name == "X-GitHub-Delivery" ? "72d3162e-cc78-11e3-81ab-4c9367dc0958" : null;
        HeaderLookup custom = name => name == "X-Request-Id" ? "r-1" : null;
        var body = "{}"u8.ToArray();

        Assert.Equal("id:72d3162e-cc78-11e3-81ab-4c9367dc0958", DedupeKeys.Derive("", "", body, github));
        Assert.Equal("id:r-1", DedupeKeys.Derive("", "X-Request-Id", body, custom));
        Assert.Null(DedupeKeys.Derive("", "", body, custom));
        Assert.StartsWith("idh:", DedupeKeys.Derive("", "X-Request-Id", body, _ => new string('x', 300)));
    }

    [Fact]
    public void An_alertmanager_trigger_receiving_something_else_falls_back_to_the_header()
    {
        HeaderLookup headers = name => name == "X-Webhook-Id" ? "d-7" : null;

        Assert.Equal("id:d-7", DedupeKeys.Derive("alertmanager", "", "not json"u8.ToArray(), headers));
    }
}
