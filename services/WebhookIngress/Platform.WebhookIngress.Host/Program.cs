using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.ServiceDefaults;
using Platform.WebhookIngress;

var builder = PlatformWebApplication.CreateBuilder(args);
builder.AddServiceDefaults("webhook-ingress");
builder.AddWebhookIngress();
builder.AddPlatformMessaging(IngressModule.AddIngressConsumers);

var app = builder.Build();
if (args is ["migrate"])
{
    app.Services.ApplyMigrations();
    return;
}

app.MapDefaultEndpoints();
app.MapWebhookIngress();
app.Run();
