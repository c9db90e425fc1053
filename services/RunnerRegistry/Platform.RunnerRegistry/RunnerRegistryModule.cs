using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.BuildingBlocks.Grpc;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Grpc;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry;

public static class RunnerRegistryModule
{
    public const string Schema = "runners";

    /// <summary>
    /// The Runner-Registry context: gRPC services, the <c>runners</c> schema's migrations and outbox, the job queue and
    /// the lease reaper. Configured by the <c>RunnerRegistry</c> section (<see cref="RunnerRegistryOptions"/>). The host
    /// adds the bus (AddPlatformMessaging); this module only publishes, through its outbox.
    /// </summary>
    public static IHostApplicationBuilder AddRunnerRegistry(this IHostApplicationBuilder builder)
    {
        builder.AddPlatformGrpc();
        builder.Services.AddGrpc()
            .AddServiceOptions<RunnerAgentService>(o => o.Interceptors.Add<RunnerCredentialInterceptor>());
        builder.AddSchemaMigrations(Schema, typeof(RunnerRegistryModule).Assembly);
        builder.AddOutboxAndInbox(Schema);

        builder.Services.AddOptions<RunnerRegistryOptions>()
            .Bind(builder.Configuration.GetSection(RunnerRegistryOptions.Section))
            .Validate(o => o.LeaseTimeoutSeconds >= 1, "RunnerRegistry:LeaseTimeoutSeconds must be at least 1")
            .Validate(o => o.HeartbeatIntervalSeconds >= 1, "RunnerRegistry:HeartbeatIntervalSeconds must be at least 1")
            .Validate(o => o.HeartbeatIntervalSeconds < o.LeaseTimeoutSeconds,
                "RunnerRegistry:HeartbeatIntervalSeconds must be shorter than RunnerRegistry:LeaseTimeoutSeconds")
            .Validate(o => o.MaxLogLinesPerJob >= 1, "RunnerRegistry:MaxLogLinesPerJob must be at least 1")
            .Validate(o => o.MaxLogBytesPerJob >= 1, "RunnerRegistry:MaxLogBytesPerJob must be at least 1")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RunnerStore>();
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<JobQueue>();
        builder.Services.AddSingleton<JobLogStore>();
        builder.Services.AddSingleton<JobLogs>();
        builder.Services.AddSingleton<RunnerAuthenticator>();
        builder.Services.AddSingleton<RunnerRegistration>();
        builder.Services.AddSingleton(sp => new RegistrationTokenIssuer(sp.GetRequiredService<RunnerStore>()));
        builder.Services.AddSingleton<RunnerCredentialInterceptor>();
        builder.Services.AddHostedService<LeaseReaper>();
        return builder;
    }

    /// <summary>
    /// The runner protocol served in this process (for a runner embedded in the host): the same service, behind the
    /// same interceptors as its gRPC endpoint (domain errors to statuses, then the runner's credential), with no HTTP/2
    /// in between.
    /// </summary>
    public static global::Grpc.Core.CallInvoker InProcessRunnerTransport(IServiceProvider services) =>
        InProcessCallInvoker.Create(ActivatorUtilities.CreateInstance<RunnerAgentService>(services),
            Protos.Runners.V1.RunnerAgent.BindService,
            ActivatorUtilities.GetServiceOrCreateInstance<DomainExceptionInterceptor>(services),
            services.GetRequiredService<RunnerCredentialInterceptor>());

    public static WebApplication MapRunnerRegistry(this WebApplication app)
    {
        app.MapGrpcService<RunnerRegistryService>();
        app.MapGrpcService<RunnerAgentService>();
        return app;
    }
}
