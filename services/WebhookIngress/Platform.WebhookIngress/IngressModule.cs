using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Platform.BuildingBlocks.Grpc;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.WebhookIngress.Application;
using Platform.WebhookIngress.Grpc;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress;

public static class IngressModule
{
    public const string Schema = "ingress";

    /// <summary>
    /// The webhook ingress: <c>POST /hooks/{trigger_id}</c>, the delivery list and replay, the outbox relay of
    /// <c>WebhookReceived</c> and the redelivery of unanswered deliveries. <c>Services:Triggers</c> is the gRPC
    /// address of the Triggers context, which owns the triggers and their secrets (default: this host).
    /// </summary>
    public static IHostApplicationBuilder AddWebhookIngress(this IHostApplicationBuilder builder)
    {
        builder.AddPlatformGrpc();
        builder.AddSchemaMigrations(Schema, typeof(IngressModule).Assembly);
        builder.AddOutboxAndInbox(Schema);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DeliveryStore>();
        builder.Services.AddSingleton<TriggerDirectory>();
        builder.Services.AddSingleton<WebhookReceiver>();
        builder.Services.AddHostedService<Redeliverer>();
        var triggers = new Uri(builder.Configuration["Services:Triggers"] ?? "http://127.0.0.1:8081");
        builder.Services.AddPlatformGrpcClient<Protos.Triggers.V1.Triggers.TriggersClient>(triggers);
        return builder;
    }

    public static void AddIngressConsumers(IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<DeliveryProcessedConsumer, DeliveryProcessedConsumerDefinition>();

    public static WebApplication MapWebhookIngress(this WebApplication app)
    {
        app.MapWebhookEndpoint();
        app.MapGrpcService<DeliveriesService>();
        return app;
    }
}
