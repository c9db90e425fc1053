using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.ServiceDefaults;
using Platform.Triggers;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("triggers");
builder.AddTriggers();
builder.AddPlatformMessaging(TriggersModule.AddTriggersConsumers);

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapTriggers();
app.Run();
