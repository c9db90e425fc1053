using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Platform.BuildingBlocks.Grpc;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Execution.V1;
using Platform.Triggers.Application;
using Platform.Triggers.Grpc;
using Platform.Triggers.Persistence;

namespace Platform.Triggers;

public static class TriggersModule
{
    public const string Schema = "triggers";

    /// <summary>
    /// Schedules (and the worker that fires them), webhook and event triggers. <c>Services:Execution</c> and
    /// <c>Services:Definitions</c> are the gRPC addresses of those contexts (default: this host's gRPC port);
    /// <c>Triggers:WebhookBaseUrl</c> is where the webhook ingress is reached from outside.
    /// </summary>
    public static IHostApplicationBuilder AddTriggers(this IHostApplicationBuilder builder)
    {
        builder.AddPlatformGrpc();
        builder.AddSchemaMigrations(Schema, typeof(TriggersModule).Assembly);
        builder.AddOutboxAndInbox(Schema);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TriggerStore>();
        builder.Services.AddSingleton<ScheduleStore>();
        builder.Services.AddSingleton<ExecutionStarter>();
        builder.Services.AddSingleton<ScheduleFirer>();
        builder.Services.AddSingleton<TriggerFiring>();
        builder.Services.AddSingleton<TriggerCache>();
        builder.Services.AddSingleton<DeliveryAnswers>();
        builder.Services.AddSingleton<WebhookStarts>();
        builder.Services.AddHostedService<ScheduleWorker>();

        var execution = new Uri(builder.Configuration["Services:Execution"] ?? "http://127.0.0.1:8081");
        var definitions = new Uri(builder.Configuration["Services:Definitions"] ?? "http://127.0.0.1:8081");
        builder.Services.AddPlatformGrpcClient<Executions.ExecutionsClient>(execution);
        builder.Services.AddPlatformGrpcClient<Definitions.DefinitionsClient>(definitions);
        return builder;
    }

    public static void AddTriggersConsumers(IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<WebhookReceivedConsumer, WebhookReceivedConsumerDefinition>();
        bus.AddConsumer<ExecutionFinishedConsumer, ExecutionFinishedConsumerDefinition>();
    }

    public static WebApplication MapTriggers(this WebApplication app)
    {
        app.MapGrpcService<SchedulesService>();
        app.MapGrpcService<TriggersService>();
        return app;
    }
}
