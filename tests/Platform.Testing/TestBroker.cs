using Testcontainers.RabbitMq;

namespace Platform.Testing;

/// <summary>The RabbitMQ broker: RABBITMQ_URL when given (as .ci/run provides), otherwise a Testcontainers one.</summary>
public static class TestBroker
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? url;
    private static RabbitMqContainer? container;

    public static async Task<string> UrlAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (url is not null)
            {
                return url;
            }

            var configured = Environment.GetEnvironmentVariable("RABBITMQ_URL");
            if (!string.IsNullOrWhiteSpace(configured))
            {
                url = configured;
            }
            else
            {
                container = new RabbitMqBuilder("rabbitmq:3.13-management").Build();
                await container.StartAsync();
                url = container.GetConnectionString();
            }

            return url;
        }
        finally
        {
            Gate.Release();
        }
    }
}
