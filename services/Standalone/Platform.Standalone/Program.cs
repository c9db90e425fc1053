using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Definitions;
using Platform.Execution;
using Platform.Execution.Temporal;
using Platform.RunnerRegistry;
using Platform.ServiceDefaults;
using Platform.Standalone;
using Platform.Triggers;
using Platform.WebhookIngress;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("platform-standalone");
builder.UseThisHostForEveryContext();
builder.AddDefinitions();
builder.AddRunnerRegistry();
builder.AddExecutionWithEngine();
builder.EnqueueJobsInProcess();
builder.ApplyJobEventsInProcess();
builder.AddTriggers();
builder.AddWebhookIngress();
builder.AddPlatformMessaging(ExecutionModule.AddExecutionConsumers, TriggersModule.AddTriggersConsumers,
    IngressModule.AddIngressConsumers);
builder.AddEmbeddedRunner();

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapDefinitions();
app.MapRunnerRegistry();
app.MapExecution();
app.MapTriggers();
app.MapWebhookIngress();
app.Run();
