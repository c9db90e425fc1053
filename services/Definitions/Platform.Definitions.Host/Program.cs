using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Definitions;
using Platform.ServiceDefaults;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("definitions");
builder.AddDefinitions();
builder.AddPlatformMessaging();

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapDefinitions();
app.Run();
