using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Platform.BuildingBlocks.Grpc;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Definitions.Grpc;
using Platform.Definitions.Persistence;

namespace Platform.Definitions;

public static class DefinitionsModule
{
    /// <summary>The PostgreSQL schema of this context, and the key of its outbox.</summary>
    public const string Schema = "definitions";

    /// <summary>Agents, workflows and revisions: the gRPC service (REST through transcoding), the schema's
    /// migrations and the outbox relay that publishes <c>WorkflowRevisionCreated</c> and <c>WorkflowArchived</c>.
    /// The host registers the bus (<c>AddPlatformMessaging</c>).</summary>
    public static IHostApplicationBuilder AddDefinitions(this IHostApplicationBuilder builder)
    {
        builder.AddPlatformGrpc();
        builder.AddSchemaMigrations(Schema, typeof(DefinitionsModule).Assembly);
        builder.AddOutboxAndInbox(Schema);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AgentRepository>();
        builder.Services.AddSingleton<WorkflowRepository>();
        return builder;
    }

    public static WebApplication MapDefinitions(this WebApplication app)
    {
        app.MapGrpcService<DefinitionsService>();
        return app;
    }
}
