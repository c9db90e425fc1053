using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.BuildingBlocks.Errors;
using Platform.Triggers.Domain;

namespace Platform.Triggers.Tests;

public sealed class PayloadMappingTests
{
    private static JsonElement Alert(string status = "firing") => JsonSerializer.SerializeToElement(new
    {
        status,
        groupKey = "{}:{alertname=\"HighErrorRate\"}",
        commonLabels = new { alertname = "HighErrorRate", severity = "critical" },
        alerts = new[] { new { fingerprint = "a3b5", labels = new { instance = "api-1" } } },
    });

    [Fact]
    public void Without_a_mapping_the_whole_payload_is_the_input()
    {
        var input = PayloadMapping.Create(null, "").Map(Alert());

        Assert.Equal("firing", (string?)input["status"]);
        Assert.Equal("a3b5", (string?)input["alerts"]![0]!["fingerprint"]);
    }

    [Fact]
    public void A_mapping_picks_values_with_their_types_and_renders_text()
    {
        var mapping = PayloadMapping.Create(new JsonObject
        {
            ["alert"] = "${{ inputs.commonLabels.alertname }}",
            ["first"] = "${{ inputs.alerts[0] }}",
            ["title"] = "[${{ inputs.commonLabels.severity }}] ${{ inputs.commonLabels.alertname }}",
            ["fixed"] = 3,
        }, "");

        var input = mapping.Map(Alert());

        Assert.Equal("HighErrorRate", (string?)input["alert"]);
        Assert.Equal("api-1", (string?)input["first"]!["labels"]!["instance"]);
        Assert.Equal("[critical] HighErrorRate", (string?)input["title"]);
        Assert.Equal(3, (int)input["fixed"]!);
    }

    [Fact]
    public void A_filter_lets_only_matching_payloads_through()
    {
        var mapping = PayloadMapping.Create(null, "inputs.status == 'firing' && inputs.commonLabels.severity == 'critical'");

        Assert.True(mapping.Accepts(Alert("firing")));
        Assert.False(mapping.Accepts(Alert("resolved")));
    }

    [Fact]
    public void A_payload_that_is_not_an_object_is_wrapped()
    {
        var input = PayloadMapping.WholePayload.Map(JsonSerializer.SerializeToElement(new[] { 1, 2 }));

        Assert.Equal("[1,2]", input["payload"]!.ToJsonString());
    }

    [Fact]
    public void Mapping_and_filter_expressions_are_checked_when_the_trigger_is_created()
    {
        var failure = Assert.Throws<ValidationFailedException>(() => PayloadMapping.Create(new JsonObject
        {
            ["a"] = "${{ inputs.x ==  }}",
            ["b"] = new JsonObject { ["c"] = "${{ steps.build.outputs.tag }}" },
        }, "inputs.status = 'firing'"));

        Assert.Equal(["input_mapping.a", "input_mapping.b.c", "filter"], failure.Violations.Select(v => v.Field));
    }
}
