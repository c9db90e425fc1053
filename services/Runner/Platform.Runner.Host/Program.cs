using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Runner;
using Platform.ServiceDefaults;

// platform-runner: registers with Runner-Registry and runs jobs until SIGTERM/Ctrl+C or a drain asked through the API,
// then drains and exits 0.
// Exits 1 with a clear message when misconfigured or refused at registration.
var switches = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["--url"] = RunnerOptions.UrlVariable,
    ["--token"] = RunnerOptions.TokenVariable,
    ["--name"] = RunnerOptions.NameVariable,
    ["--labels"] = RunnerOptions.LabelsVariable,
    ["--capacity"] = RunnerOptions.CapacityVariable,
    ["--executor"] = RunnerOptions.ExecutorVariable,
    ["--drain-timeout"] = RunnerOptions.DrainTimeoutVariable,
    ["--work-dir"] = RunnerOptions.WorkDirectoryVariable,
};
if (args is ["--help"] or ["-h"])
{
    Console.WriteLine($"""
        usage: platform-runner [--url URL] [--token TOKEN] [--name NAME] [--labels a,b] [--capacity N]
                               [--executor process|docker|kubernetes[,...]] [--drain-timeout SECONDS] [--work-dir DIR]
        Each flag mirrors an environment variable: {string.Join(", ", switches.Values)}.
        The Docker executor also reads PLATFORM_DOCKER_HOST, DOCKER_API_VERSION, PLATFORM_DOCKER_PULL,
        PLATFORM_DOCKER_STOP_TIMEOUT, PLATFORM_DOCKER_NETWORK; the Kubernetes executor PLATFORM_K8S_NAMESPACE,
        KUBECONFIG, PLATFORM_K8S_API_SERVER, PLATFORM_K8S_SERVICE_ACCOUNT.
        """);
    return 0;
}

RunnerOptions options;
try
{
    var settings = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args, switches).Build();
    options = RunnerOptions.From(name => settings[name]);
}
catch (Exception ex) when (ex is RunnerConfigurationException or FormatException)
{
    await Console.Error.WriteLineAsync($"platform-runner: {ex.Message}");
    return 1;
}

var builder = Host.CreateApplicationBuilder();
builder.AddServiceDefaults("runner");
builder.Services.AddRunnerAgent(options);
var host = builder.Build();
RunnerAgent agent;
try
{
    agent = host.Services.GetRequiredService<RunnerAgent>(); // creates the executors, which check their settings
}
catch (RunnerConfigurationException ex)
{
    await Console.Error.WriteLineAsync($"platform-runner: {ex.Message}");
    return 1;
}

await host.RunAsync(); // disposes the host when it returns

if (agent.Completion.IsCompletedSuccessfully && agent.Completion.Result is { ExitCode: not 0 } exit)
{
    await Console.Error.WriteLineAsync($"platform-runner: {exit.Message}");
    return exit.ExitCode;
}

return agent.Completion.IsFaulted ? 1 : 0;
