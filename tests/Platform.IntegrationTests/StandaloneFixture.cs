using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>One Standalone platform shared by the tests of a class; each test works in a team of its own.</summary>
public sealed class StandaloneFixture : IAsyncLifetime
{
    private StandalonePlatform? platform;

    public StandalonePlatform Platform => platform ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => platform = await StandalonePlatform.StartAsync();

    public async Task DisposeAsync()
    {
        if (platform is not null)
        {
            await platform.DisposeAsync();
        }
    }
}
