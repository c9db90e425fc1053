using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Platform.BuildingBlocks.Messaging;

public static class MessagingExtensions
{
    public const string DefaultRabbitMqUrl = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>
    /// The bus of one process, with every module's consumers. <c>Messaging:Transport</c> is <c>rabbitmq</c> (the
    /// default; <c>Messaging:RabbitMq</c> is the broker URL) or <c>inmemory</c> (the Standalone host, where every
    /// consumer lives in the same process and the outboxes keep the events durable).
    /// </summary>
    public static IHostApplicationBuilder AddPlatformMessaging(this IHostApplicationBuilder builder,
        params Action<IBusRegistrationConfigurator>[] modules)
    {
        var transport = builder.Configuration["Messaging:Transport"] ?? "rabbitmq";
        builder.Services.AddMassTransit(bus =>
        {
            bus.SetKebabCaseEndpointNameFormatter();
            foreach (var module in modules)
            {
                module(bus);
            }

            switch (transport)
            {
                case "inmemory":
                    bus.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100)));
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
                case "rabbitmq":
                    var url = new Uri(builder.Configuration["Messaging:RabbitMq"] ?? DefaultRabbitMqUrl);
                    bus.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(url);
                        cfg.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100)));
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
                default:
                    throw new InvalidOperationException(
                        $"Messaging:Transport must be 'rabbitmq' or 'inmemory', not '{transport}'");
            }
        });
        return builder;
    }
}
