using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.BuildingBlocks.Grpc;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Grpc;
using Platform.Execution.Messaging;
using Platform.Execution.Persistence;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Runners.V1;

namespace Platform.Execution;

public static class ExecutionModule
{
    public const string Schema = "execution";
    public const string EmbeddedEngine = "embedded";
    public const string TemporalEngine = "temporal";

    /// <summary><c>Execution:Engine</c>: <c>embedded</c> (the default) or <c>temporal</c>.</summary>
    public static string EngineName(IConfiguration configuration)
    {
        var engine = configuration["Execution:Engine"] ?? EmbeddedEngine;
        return engine is EmbeddedEngine or TemporalEngine
            ? engine
            : throw new InvalidOperationException($"Execution:Engine must be '{EmbeddedEngine}' or '{TemporalEngine}', not '{engine}'");
    }

    /// <summary>
    /// The Execution context. With the embedded engine (the default) this registers the engine and its workers; with
    /// <c>Execution:Engine=temporal</c> the host adds the Temporal engine (<c>AddExecutionWithEngine</c> in
    /// Platform.Execution.Temporal does both), and the read model, the reconciler and the API stay as they are. <c>Services:Definitions</c> and
    /// <c>Services:RunnerRegistry</c> are the gRPC addresses of those contexts (default: this host's gRPC port).
    /// </summary>
    public static IHostApplicationBuilder AddExecution(this IHostApplicationBuilder builder)
    {
        var engine = EngineName(builder.Configuration);
        builder.AddPlatformGrpc();
        builder.AddSchemaMigrations(Schema, typeof(ExecutionModule).Assembly);
        builder.AddOutboxAndInbox(Schema);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ExecutionStore>();
        builder.Services.AddSingleton<IExecutionProjection, ExecutionProjection>();
        builder.Services.AddSingleton<IWorkflowCatalog, GrpcWorkflowCatalog>();
        builder.Services.AddSingleton<IJobQueue, GrpcJobQueue>();
        // Whatever the engine: a job event lost on the way is found by comparing running steps with the jobs.
        builder.Services.AddHostedService<Reconciler>();
        if (engine == EmbeddedEngine)
        {
            builder.Services.AddSingleton<ExecutionEngine>();
            builder.Services.AddSingleton<IExecutionEngine>(sp => sp.GetRequiredService<ExecutionEngine>());
            builder.Services.AddHostedService<DispatchRelay>();
            builder.Services.AddHostedService<TimerWorker>();
        }

        var definitions = new Uri(builder.Configuration["Services:Definitions"] ?? "http://127.0.0.1:8081");
        var registry = new Uri(builder.Configuration["Services:RunnerRegistry"] ?? "http://127.0.0.1:8081");
        builder.Services.AddPlatformGrpcClient<Definitions.DefinitionsClient>(definitions);
        builder.Services.AddPlatformGrpcClient<Protos.Runners.V1.RunnerRegistry.RunnerRegistryClient>(registry);
        return builder;
    }

    public static void AddExecutionConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<JobEventsConsumer, JobEventsConsumerDefinition>();

    public static WebApplication MapExecution(this WebApplication app)
    {
        app.MapGrpcService<ExecutionsService>();
        return app;
    }
}
