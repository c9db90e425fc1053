using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>Agents and workflows over REST on the Standalone host, as a user with curl sees them.</summary>
public sealed class DefinitionsApiTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private StandalonePlatform Platform => fixture.Platform;
    private readonly string team = "team-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Health_endpoint_answers_200()
    {
        using var response = await Platform.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_reference_page_body_creates_a_workflow_at_revision_1()
    {
        var test = await Agent("test-agent");
        var builder = await Agent("builder-agent");
        var deployer = await Agent("deployer-agent");

        var workflow = await Platform.PostAsync("/api/v1/workflows", new
        {
            name = "Deploy Application",
            description = "Multi-step deployment workflow",
            steps = new object[]
            {
                new { name = "run-tests", type = "agent", agent_id = test },
                new { name = "build-image", type = "agent", agent_id = builder },
                new { name = "deploy", type = "agent", agent_id = deployer },
            },
            team_id = team,
        });

        Assert.Equal(1, (int)workflow["revision"]!);
        Assert.Equal("Deploy Application", (string?)workflow["name"]);
        var fetched = await Platform.GetAsync($"/api/v1/workflows/{workflow["id"]}");
        Assert.Equal(["run-tests", "build-image", "deploy"], fetched["steps"]!.AsArray().Select(s => (string)s!["name"]!));
    }

    [Fact]
    public async Task An_agent_keeps_its_executor_kind_and_resources_and_bad_ones_are_400_with_field_violations()
    {
        var agent = await Platform.PostAsync("/api/v1/agents", new
        {
            name = "pod-builder", image = "registry.local/builder:1", executor = "kubernetes", team_id = team,
            resources = new { cpu_request = "250m", cpu_limit = "1", memory_request = "128Mi", memory_limit = "256Mi" },
        });
        var read = await Platform.GetAsync($"/api/v1/agents/{agent["id"]}");

        Assert.Equal("kubernetes", (string?)read["executor"]);
        Assert.Equal(("250m", "1", "128Mi", "256Mi"), ((string?)read["resources"]!["cpuRequest"], (string?)read["resources"]!["cpuLimit"],
            (string?)read["resources"]!["memoryRequest"], (string?)read["resources"]!["memoryLimit"]));

        var refused = await Platform.PostAsync("/api/v1/agents", new
        {
            name = "bad-pod", command = new[] { "true" }, executor = "docker", team_id = team,
            resources = new { memory_limit = "lots" },
        }, expectedStatus: 400);
        var fields = refused["details"]![0]!["fieldViolations"]!.AsArray().Select(v => (string)v!["field"]!).ToList();
        Assert.Equal(["image", "resources.memory_limit"], fields);
        var listed = await Platform.GetAsync($"/api/v1/agents?team_id={team}");
        Assert.DoesNotContain(listed["agents"]!.AsArray(), a => (string?)a!["name"] == "bad-pod");
    }

    [Fact]
    public async Task Only_the_name_is_required()
    {
        var workflow = await Platform.PostAsync("/api/v1/workflows", new { name = "Empty " + team, team_id = team });
        Assert.Equal(1, (int)workflow["revision"]!);
    }

    [Theory]
    [InlineData("sequential.yaml", "Deploy Application", new[] { "test-runner", "builder", "deployer" })]
    [InlineData("parallel.yaml", "Multi-Cloud Deployment", new[] { "aws-deployer", "gcp-deployer", "azure-deployer" })]
    [InlineData("event-driven.yaml", "Incident Response", new[] { "analyzer", "remediator", "notifier" })]
    public async Task Each_reference_yaml_example_imports_unchanged(string file, string name, string[] agents)
    {
        foreach (var agent in agents)
        {
            await Agent(agent);
        }

        var yaml = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Examples", file));
        var workflow = await Platform.PostAsync("/api/v1/workflows:import", new { yaml, team_id = team });

        Assert.Equal(name, (string?)workflow["name"]);
        Assert.Equal(1, (int)workflow["revision"]!);
        if (file == "event-driven.yaml")
        {
            Assert.Equal("webhook", (string?)workflow["trigger"]!["type"]);
            Assert.Equal("alertmanager", (string?)workflow["trigger"]!["source"]);
        }
    }

    [Fact]
    public async Task Update_creates_revision_2_and_revision_1_stays_readable()
    {
        var agent = await Agent("a");
        var created = await Platform.PostAsync("/api/v1/workflows", new
        {
            name = "Versioned " + team,
            steps = new[] { new { name = "one", agent_id = agent } },
            team_id = team,
        });
        var id = (string)created["id"]!;

        var updated = await Platform.PutAsync($"/api/v1/workflows/{id}", new
        {
            name = "Versioned " + team,
            steps = new[] { new { name = "one", agent_id = agent }, new { name = "two", agent_id = agent } },
            team_id = team,
        });

        Assert.Equal(2, (int)updated["revision"]!);
        var revisions = await Platform.GetAsync($"/api/v1/workflows/{id}/revisions");
        Assert.Equal(2, revisions["revisions"]!.AsArray().Count);
        var first = await Platform.GetAsync($"/api/v1/workflows/{id}/revisions/1");
        Assert.Single(first["steps"]!.AsArray());
        var second = await Platform.GetAsync($"/api/v1/workflows/{id}/revisions/2");
        Assert.Equal(2, second["steps"]!.AsArray().Count);
    }

    [Fact]
    public async Task Delete_archives_the_workflow_and_hides_it_from_the_list()
    {
        var created = await Platform.PostAsync("/api/v1/workflows", new { name = "Archived " + team, team_id = team });
        var id = (string)created["id"]!;

        var archived = await Platform.DeleteAsync($"/api/v1/workflows/{id}");

        Assert.True((bool?)archived["archived"]);
        var list = await Platform.GetAsync($"/api/v1/workflows?team_id={team}");
        Assert.DoesNotContain(list["workflows"]?.AsArray() ?? [], w => (string?)w!["id"] == id);
        var fetched = await Platform.GetAsync($"/api/v1/workflows/{id}");
        Assert.True((bool?)fetched["archived"]);
    }

    [Fact]
    public async Task Workflows_are_listed_in_pages()
    {
        for (var i = 0; i < 5; i++)
        {
            await Platform.PostAsync("/api/v1/workflows", new { name = $"Paged {i}", team_id = team });
        }

        var first = await Platform.GetAsync($"/api/v1/workflows?team_id={team}&page_size=3");
        Assert.Equal(3, first["workflows"]!.AsArray().Count);
        var token = (string?)first["nextPageToken"];
        Assert.False(string.IsNullOrEmpty(token));
        var second = await Platform.GetAsync($"/api/v1/workflows?team_id={team}&page_size=3&page_token={token}");
        Assert.Equal(2, second["workflows"]!.AsArray().Count);
        var names = first["workflows"]!.AsArray().Concat(second["workflows"]!.AsArray()).Select(w => (string)w!["name"]!);
        Assert.Equal(5, names.Distinct().Count());
    }

    public static TheoryData<string, object, string> BadWorkflows => new()
    {
        { "no name", new { steps = Array.Empty<object>() }, "name" },
        { "duplicate step names", new { name = "Dup", steps = new[] { new { name = "x", agent = "known" }, new { name = "x", agent = "known" } } }, "steps[1].name" },
        { "unknown requires", new { name = "Req", steps = new object[] { new { name = "x", agent = "known", requires = new[] { "nope" } } } }, "steps[0].requires[0]" },
        { "a cycle", new { name = "Cyc", steps = new object[] { new { name = "a", agent = "known", requires = new[] { "b" } }, new { name = "b", agent = "known", requires = new[] { "a" } } } }, "steps" },
        { "unknown agent", new { name = "Ag", steps = new[] { new { name = "x", agent = "no-such-agent" } } }, "steps[0].agent" },
    };

    [Theory]
    [MemberData(nameof(BadWorkflows))]
    public async Task A_bad_workflow_is_refused_with_400_naming_the_field_and_nothing_is_stored(string why, object body, string field)
    {
        await Agent("known");
        var withTeam = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(body))!.AsObject();
        withTeam["team_id"] = team;

        using var response = await Platform.Http.PostAsJsonAsync("/api/v1/workflows", withTeam);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode} {text}");
        Assert.Contains(field, text, StringComparison.Ordinal);
        var list = await Platform.GetAsync($"/api/v1/workflows?team_id={team}");
        Assert.Empty(list["workflows"]?.AsArray() ?? []);
    }

    [Fact]
    public async Task Malformed_yaml_is_refused_with_400()
    {
        using var response = await Platform.Http.PostAsJsonAsync("/api/v1/workflows:import",
            new { yaml = "name: [unclosed\nsteps:\n  - name: x", team_id = team });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("yaml", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_document_over_the_size_limit_is_refused_with_400()
    {
        var huge = "name: Huge\ndescription: \"" + new string('x', 2 * 1024 * 1024) + "\"\n";
        using var response = await Platform.Http.PostAsJsonAsync("/api/v1/workflows:import", new { yaml = huge, team_id = team });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/v1/workflows/00000000-0000-0000-0000-000000000001")]
    [InlineData("/api/v1/workflows/not-a-uuid")]
    [InlineData("/api/v1/agents/00000000-0000-0000-0000-000000000001")]
    [InlineData("/api/v1/executions/00000000-0000-0000-0000-000000000001")]
    [InlineData("/api/v1/executions/00000000-0000-0000-0000-000000000001/history")]
    [InlineData("/api/v1/workflows/00000000-0000-0000-0000-000000000001/revisions/1")]
    public async Task Unknown_ids_give_404(string path)
    {
        using var response = await Platform.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Starting_an_unknown_workflow_gives_404()
    {
        using var response = await Platform.Http.PostAsJsonAsync(
            "/api/v1/workflows/00000000-0000-0000-0000-000000000001/start", new { input = new { } });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private async Task<string> Agent(string name) =>
        (string)(await Platform.PostAsync("/api/v1/agents", new { name, command = new[] { "true" }, team_id = team }))["id"]!;
}
