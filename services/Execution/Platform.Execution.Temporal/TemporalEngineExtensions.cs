using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Platform.Execution.Engine;
using Temporalio.Extensions.Hosting;

namespace Platform.Execution.Temporal;

/// <summary>Settings of the Temporal engine: the <c>Temporal</c> configuration section.</summary>
public sealed class TemporalEngineOptions
{
    public const string Section = "Temporal";
    public const string DefaultAddress = "127.0.0.1:7233";
    public const string DefaultNamespace = "default";
    public const string DefaultTaskQueue = "platform-executions";

    /// <summary><c>Temporal:Address</c>, host:port of the Temporal frontend.</summary>
    public string Address { get; set; } = DefaultAddress;

    /// <summary><c>Temporal:Namespace</c>.</summary>
    public string Namespace { get; set; } = DefaultNamespace;

    /// <summary><c>Temporal:TaskQueue</c>: where executions' workflows and activities run.</summary>
    public string TaskQueue { get; set; } = DefaultTaskQueue;

    /// <summary><c>Temporal:ContinueAsNewAfterEvents</c>.</summary>
    public int ContinueAsNewAfterEvents { get; set; } = ExecutionWorkflow.DefaultContinueAsNewAfterEvents;

    /// <summary><c>Temporal:RetryWindow</c>: how long a Failed execution can still be retried (default 30 days).</summary>
    public TimeSpan? RetryWindow { get; set; }
}

public static class TemporalEngineExtensions
{
    /// <summary>The Execution context with the engine <c>Execution:Engine</c> names: <c>embedded</c> (the default) or
    /// <c>temporal</c>.</summary>
    public static IHostApplicationBuilder AddExecutionWithEngine(this IHostApplicationBuilder builder)
    {
        builder.AddExecution();
        if (ExecutionModule.EngineName(builder.Configuration) == ExecutionModule.TemporalEngine)
        {
            builder.AddTemporalEngine();
        }

        return builder;
    }

    /// <summary>
    /// The Temporal engine: a Temporal client (<c>Temporal:Address</c>, default 127.0.0.1:7233; <c>Temporal:Namespace</c>,
    /// default <c>default</c>; connected lazily), a hosted worker on task queue <c>Temporal:TaskQueue</c> (default
    /// <c>platform-executions</c>) running <see cref="ExecutionWorkflow"/> and <see cref="ExecutionActivities"/>, which
    /// keeps trying while the server is away, and <see cref="TemporalExecutionEngine"/> as the <see cref="IExecutionEngine"/>
    /// (replacing an earlier registration). Expects <see cref="Domain.IJobQueue"/> and
    /// <see cref="Domain.IWorkflowCatalog"/> from the Execution module.
    /// </summary>
    public static IHostApplicationBuilder AddTemporalEngine(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(TemporalEngineOptions.Section);
        var settings = new TemporalEngineOptions();
        section.Bind(settings);
        builder.Services.Configure<TemporalEngineOptions>(section);

        builder.Services.AddTemporalClient(settings.Address, settings.Namespace);
        builder.Services.AddSingleton<ExecutionActivities>();
        builder.Services.AddHostedService<TemporalWorkerHost>();
        builder.Services.AddSingleton<TemporalExecutionEngine>();
        builder.Services.RemoveAll<IExecutionEngine>();
        builder.Services.AddSingleton<IExecutionEngine>(sp => sp.GetRequiredService<TemporalExecutionEngine>());
        return builder;
    }
}
