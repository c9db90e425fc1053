using Platform.Definitions.Domain;

namespace Platform.Definitions.Tests;

public class AgentSpecTests
{
    private static AgentSpec Spec(string name = "builder", string[]? command = null, string image = "",
        Dictionary<string, string>? env = null, string[]? labels = null) =>
        new("default", name, "", command ?? ["make"], image, env ?? [], labels ?? []);

    [Fact]
    public void Agent_with_name_and_command_is_valid()
    {
        Assert.Empty(Spec(command: ["sh", "-c", "make test"], env: new() { ["CI"] = "1" }, labels: ["linux"]).Validate());
    }

    [Fact]
    public void Agent_executor_kind_must_be_known_and_fit_the_agent()
    {
        Assert.Empty((Spec(command: [], image: "alpine:3") with { Executor = "docker" }).Validate());
        Assert.Empty((Spec(image: "alpine:3") with { Executor = "process" }).Validate());
        Assert.Equal("executor", Assert.Single((Spec() with { Executor = "vm" }).Validate()).Field);
        Assert.Equal("image", Assert.Single((Spec() with { Executor = "kubernetes" }).Validate()).Field);
        Assert.Equal("command", Assert.Single((Spec(command: [], image: "alpine:3") with { Executor = "process" }).Validate()).Field);
    }

    [Fact]
    public void Agent_resources_must_be_kubernetes_quantities()
    {
        Assert.Empty((Spec() with { Resources = new AgentResources("250m", "1.5", "128Mi", "1G") }).Validate());
        Assert.Equal(["resources.cpu_request", "resources.memory_limit"],
            (Spec() with { Resources = new AgentResources("a lot", "", "", "-1Gi") }).Validate().Select(v => v.Field));
    }

    [Fact]
    public void Agent_needs_a_name()
    {
        Assert.Equal("name", Assert.Single(Spec(name: " ").Validate()).Field);
    }

    [Fact]
    public void Agent_needs_a_command_unless_it_has_an_image()
    {
        Assert.Equal("command", Assert.Single(Spec(command: []).Validate()).Field);
        Assert.Empty(Spec(command: [], image: "alpine:3").Validate());
    }

    [Fact]
    public void Command_must_start_with_a_program()
    {
        Assert.Equal("command[0]", Assert.Single(Spec(command: [""]).Validate()).Field);
    }

    [Fact]
    public void Runner_labels_may_not_hold_commas()
    {
        Assert.Equal("runner_labels[1]", Assert.Single(Spec(labels: ["linux", "a,b"]).Validate()).Field);
    }

    [Fact]
    public void Env_names_may_not_hold_equals_signs()
    {
        Assert.Equal("env[A=B]", Assert.Single(Spec(env: new() { ["A=B"] = "x" }).Validate()).Field);
    }
}
