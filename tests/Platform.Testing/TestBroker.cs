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

    /// <summary>
    /// The broker's URL on a virtual host of the caller's own: test hosts that run at the same time (other test
    /// classes, another checkout's tests on the same machine) must not consume each other's messages from queues of the
    /// same name.
    /// </summary>
    public static async Task<string> IsolatedUrlAsync()
    {
        var server = new Uri(await UrlAsync());
        var vhost = $"test-{Guid.NewGuid():N}";
        await RabbitMqCtlAsync("add_vhost", vhost);
        await RabbitMqCtlAsync("set_permissions", "-p", vhost, Uri.UnescapeDataString(server.UserInfo.Split(':')[0]), ".*", ".*", ".*");
        return new UriBuilder(server) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri.ToString();
    }

    /// <summary>Removes a virtual host made by <see cref="IsolatedUrlAsync"/>, with its queues.</summary>
    public static async Task DeleteIsolatedAsync(string url)
    {
        var vhost = Uri.UnescapeDataString(new Uri(url).AbsolutePath.TrimStart('/'));
        if (vhost.StartsWith("test-", StringComparison.Ordinal))
        {
            await RabbitMqCtlAsync("delete_vhost", vhost);
        }
    }

    /// <summary>rabbitmqctl of the local broker (as .ci/run installs it), or inside the Testcontainers one.</summary>
    private static async Task RabbitMqCtlAsync(params string[] arguments)
    {
        if (container is not null)
        {
            var result = await container.ExecAsync(["rabbitmqctl", .. arguments]);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', arguments)}: {result.Stderr}");
            }

            return;
        }

        var start = new System.Diagnostics.ProcessStartInfo("rabbitmqctl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)
            ?? throw new InvalidOperationException("rabbitmqctl is needed to give each test its own virtual host");
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', arguments)}: {await error}");
        }
    }
}
