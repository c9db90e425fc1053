using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution;
using Platform.Execution.Temporal;
using Platform.ServiceDefaults;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("execution");
builder.AddExecutionWithEngine();
builder.AddPlatformMessaging(ExecutionModule.AddExecutionConsumers);

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapExecution();
app.Run();
