using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Runner.Executors;

namespace Platform.Runner;

public static class RunnerAgentHosting
{
    /// <summary>
    /// Runs a runner agent as a hosted service of this host: it registers, takes jobs, and drains when the host stops
    /// (the host's shutdown timeout is raised to cover <see cref="RunnerOptions.DrainTimeout"/>). When the agent cannot
    /// go on (registration refused) it stops the host unless <see cref="RunnerOptions.StopHostOnFatal"/> is false;
    /// <see cref="RunnerAgent.Completion"/> says why. The options are validated here.
    /// </summary>
    /// <exception cref="RunnerConfigurationException">the options cannot work (e.g. an unknown executor).</exception>
    public static IServiceCollection AddRunnerAgent(this IServiceCollection services, RunnerOptions options)
    {
        options.Validate();
        return services.AddRunnerAgent(_ => options);
    }

    /// <summary>As <see cref="AddRunnerAgent(IServiceCollection, RunnerOptions)"/>, with options built from the
    /// container (e.g. a <see cref="RunnerOptions.TokenSource"/> that asks an in-process registry for a token).</summary>
    public static IServiceCollection AddRunnerAgent(this IServiceCollection services, Func<IServiceProvider, RunnerOptions> options)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var resolved = options(sp);
            resolved.Validate();
            return new RunnerAgentOptionsHolder(resolved);
        });
        services.AddSingleton(sp =>
        {
            var resolved = sp.GetRequiredService<RunnerAgentOptionsHolder>().Options;
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            return new RunnerAgent(resolved, JobExecutors.Create(resolved, loggers), loggers.CreateLogger<RunnerAgent>(),
                sp.GetRequiredService<TimeProvider>());
        });
        services.AddHostedService<RunnerAgentHostedService>();
        services.AddOptions<HostOptions>().Configure<RunnerAgentOptionsHolder>((host, holder) =>
        {
            var needed = holder.Options.DrainTimeout + TimeSpan.FromSeconds(45);
            if (host.ShutdownTimeout < needed)
            {
                host.ShutdownTimeout = needed;
            }
        });
        return services;
    }

    internal sealed record RunnerAgentOptionsHolder(RunnerOptions Options);

    private sealed class RunnerAgentHostedService(
        RunnerAgent agent, RunnerAgentOptionsHolder options, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var exit = await agent.RunAsync(stoppingToken);
            // A drained runner program has nothing left to do: it exits (0), as it does when refused (non-zero).
            if ((exit.ExitCode != 0 && options.Options.StopHostOnFatal)
                || (exit.Reason == RunnerExitReason.Drained && options.Options.StopHostWhenDrained))
            {
                lifetime.StopApplication();
            }
        }
    }
}
