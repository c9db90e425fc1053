using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.RunnerRegistry;
using Platform.ServiceDefaults;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("runner-registry");
builder.AddRunnerRegistry();
builder.AddPlatformMessaging();

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapRunnerRegistry();
app.Run();
