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

    /// <summary>
    /// The Execution context with the embedded engine. <c>Services:Definitions</c> and
    /// <c>Services:RunnerRegistry</c> are the gRPC addresses of those contexts (default: this host's gRPC port).
    /// </summary>
    public static IHostApplicationBuilder AddExecution(this IHostApplicationBuilder builder)
    {
        var engine = builder.Configuration["Execution:Engine"] ?? "embedded";
        if (engine != "embedded")
        {
            throw new InvalidOperationException(
                $"Execution:Engine '{engine}' is not available in this build; the embedded engine is (the Temporal engine comes with issue #3)");
        }

        builder.AddPlatformGrpc();
        builder.AddSchemaMigrations(Schema, typeof(ExecutionModule).Assembly);
        builder.AddOutboxAndInbox(Schema);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ExecutionStore>();
        builder.Services.AddSingleton<ExecutionEngine>();
        builder.Services.AddSingleton<IExecutionEngine>(sp => sp.GetRequiredService<ExecutionEngine>());
        builder.Services.AddSingleton<IWorkflowCatalog, GrpcWorkflowCatalog>();
        builder.Services.AddSingleton<IJobQueue, GrpcJobQueue>();
        builder.Services.AddHostedService<DispatchRelay>();
        builder.Services.AddHostedService<Reconciler>();
        builder.Services.AddHostedService<TimerWorker>();

        var definitions = new Uri(builder.Configuration["Services:Definitions"] ?? "http://127.0.0.1:8081");
        var registry = new Uri(builder.Configuration["Services:RunnerRegistry"] ?? "http://127.0.0.1:8081");
        builder.Services.AddGrpcClient<Definitions.DefinitionsClient>(o => o.Address = definitions);
        builder.Services.AddGrpcClient<Protos.Runners.V1.RunnerRegistry.RunnerRegistryClient>(o => o.Address = registry);
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
