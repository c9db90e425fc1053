using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Execution;
using Platform.Execution.Domain;
using Platform.Execution.Grpc;
using Platform.Runner;
using Platform.RunnerRegistry;
using Platform.RunnerRegistry.Application;

namespace Platform.Standalone;

internal static class StandaloneComposition
{
    /// <summary>Every context's gRPC client talks to this same host: its own gRPC endpoint.</summary>
    public static IHostApplicationBuilder UseThisHostForEveryContext(this IHostApplicationBuilder builder)
    {
        var grpc = builder.Configuration["Kestrel:Endpoints:Grpc:Url"] ?? "http://127.0.0.1:8081";
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Services:Definitions"] = grpc,
            ["Services:RunnerRegistry"] = grpc,
            ["Services:Execution"] = grpc,
            ["Services:Triggers"] = grpc,
            // Webhooks are received on this host's REST port.
            ["Triggers:WebhookBaseUrl"] = builder.Configuration["Kestrel:Endpoints:Rest:Url"] ?? "http://127.0.0.1:8080",
        });
        return builder;
    }

    /// <summary>Execution enqueues its jobs in Runner-Registry by a direct call rather than over loopback gRPC.</summary>
    public static IHostApplicationBuilder EnqueueJobsInProcess(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<GrpcJobQueue>();
        builder.Services.RemoveAll<IJobQueue>();
        builder.Services.AddSingleton<IJobQueue, InProcessJobQueue>();
        return builder;
    }

    /// <summary>
    /// With the embedded engine, Runner-Registry hands job starts and ends to Execution in process, each applied before
    /// the runner is answered (<see cref="InProcessJobEvents"/>). The Temporal engine's decisions do not commit in this
    /// database, so with it the events go over the bus.
    /// </summary>
    public static IHostApplicationBuilder ApplyJobEventsInProcess(this IHostApplicationBuilder builder)
    {
        if (ExecutionModule.EngineName(builder.Configuration) == ExecutionModule.EmbeddedEngine)
        {
            builder.Services.AddSingleton<ILocalJobEventConsumer, InProcessJobEvents>();
        }

        return builder;
    }

    /// <summary>
    /// One process runner inside the host (section <c>EmbeddedRunner</c>: Enabled, Name, Labels, Capacity). It speaks
    /// the same protocol as a remote runner — the same messages, handlers, credential checks and fencing — but calls
    /// Runner-Registry's handlers in process rather than over loopback HTTP/2 (calls on every step's path: the lease
    /// and the end, and the start of a job that runs longer than a moment); it registers with a single-use registration token issued in-process; it keeps
    /// its name across restarts, so a restarted host's runner replaces its old registration and the jobs that
    /// registration held go back to the queue at once.
    /// </summary>
    public static IHostApplicationBuilder AddEmbeddedRunner(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection("EmbeddedRunner");
        if (!section.GetValue("Enabled", true))
        {
            return builder;
        }

        var labels = (section["Labels"] ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        builder.Services.AddRunnerAgent(sp => new RunnerOptions
        {
            InProcessTransport = RunnerRegistryModule.InProcessRunnerTransport(sp),
            Name = section["Name"] ?? "standalone",
            Labels = labels,
            Capacity = section.GetValue("Capacity", Environment.ProcessorCount * 2),
            Executor = "process",
            // Stopping the platform should not wait minutes for a job: an interrupted job goes back to the queue
            // when the host starts again (the runner's name is kept, so its old registration is replaced).
            DrainTimeout = TimeSpan.FromSeconds(section.GetValue("DrainTimeoutSeconds", 10)),
            TokenSource = ct => sp.GetRequiredService<RegistrationTokenIssuer>()
                .IssueAsync([], TimeSpan.FromMinutes(5), singleUse: true, ct),
        });
        return builder;
    }
}
