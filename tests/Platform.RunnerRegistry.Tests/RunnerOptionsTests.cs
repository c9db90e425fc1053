using Platform.Runner;

namespace Platform.RunnerRegistry.Tests;

public sealed class RunnerOptionsTests
{
    private static RunnerOptions From(Dictionary<string, string> env) => RunnerOptions.From(name => env.GetValueOrDefault(name));

    [Fact]
    public void Options_are_read_from_the_PLATFORM_environment_variables()
    {
        var options = From(new()
        {
            ["PLATFORM_URL"] = "http://127.0.0.1:8081",
            ["PLATFORM_RUNNER_TOKEN"] = "prt_x",
            ["PLATFORM_RUNNER_NAME"] = "builder-1",
            ["PLATFORM_RUNNER_LABELS"] = "linux, x64,,gpu ",
            ["PLATFORM_RUNNER_CAPACITY"] = "4",
            ["PLATFORM_RUNNER_EXECUTOR"] = "process",
        });

        Assert.Equal(new Uri("http://127.0.0.1:8081"), options.Url);
        Assert.Equal(("prt_x", "builder-1", 4, "process"), (options.Token, options.Name, options.Capacity, options.Executor));
        Assert.Equal(["linux", "x64", "gpu"], options.Labels);
    }

    [Fact]
    public void Several_executor_kinds_and_the_executor_settings_are_read_from_the_environment()
    {
        var options = From(new()
        {
            ["PLATFORM_URL"] = "http://127.0.0.1:8081",
            ["PLATFORM_RUNNER_TOKEN"] = "t",
            ["PLATFORM_RUNNER_EXECUTOR"] = "Docker, kubernetes,process",
            ["PLATFORM_DOCKER_PULL"] = "never",
            ["PLATFORM_DOCKER_STOP_TIMEOUT"] = "3",
            ["DOCKER_API_VERSION"] = "1.43",
            ["PLATFORM_K8S_NAMESPACE"] = "ci-jobs",
        });

        Assert.Equal(["docker", "kubernetes", "process"], options.ExecutorKinds);
        Assert.Equal((ImagePullPolicy.Never, TimeSpan.FromSeconds(3), "1.43"),
            (options.Docker.PullPolicy, options.Docker.StopTimeout, options.Docker.ApiVersion));
        Assert.Equal("ci-jobs", options.Kubernetes.Namespace);
    }

    [Fact]
    public void Name_defaults_to_the_machine_name_and_capacity_to_1()
    {
        var options = From(new() { ["PLATFORM_URL"] = "http://127.0.0.1:8081", ["PLATFORM_RUNNER_TOKEN"] = "t" });

        Assert.Equal((Environment.MachineName, 1, "process"), (options.Name, options.Capacity, options.Executor));
        Assert.Empty(options.Labels);
    }

    [Theory]
    [InlineData("PLATFORM_URL", "", "PLATFORM_URL is required")]
    [InlineData("PLATFORM_URL", "127.0.0.1:8081", "PLATFORM_URL must be an http(s) address")]
    [InlineData("PLATFORM_RUNNER_TOKEN", "", "PLATFORM_RUNNER_TOKEN is required")]
    [InlineData("PLATFORM_RUNNER_CAPACITY", "0", "PLATFORM_RUNNER_CAPACITY must be a whole number of at least 1")]
    [InlineData("PLATFORM_RUNNER_EXECUTOR", "vm", "PLATFORM_RUNNER_EXECUTOR must be 'process', 'docker' or 'kubernetes', or several of them comma-separated (got 'vm')")]
    [InlineData("PLATFORM_RUNNER_EXECUTOR", "docker,vm", "PLATFORM_RUNNER_EXECUTOR must be 'process', 'docker' or 'kubernetes', or several of them comma-separated (got 'vm')")]
    [InlineData("PLATFORM_DOCKER_PULL", "sometimes", "PLATFORM_DOCKER_PULL must be 'always', 'if-not-present' or 'never' (got 'sometimes')")]
    public void Unusable_settings_are_a_clear_startup_error(string variable, string value, string message)
    {
        var env = new Dictionary<string, string> { ["PLATFORM_URL"] = "http://127.0.0.1:8081", ["PLATFORM_RUNNER_TOKEN"] = "t" };
        env[variable] = value;

        var error = Assert.Throws<RunnerConfigurationException>(() => From(env));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }
}
