using Microsoft.AspNetCore.Builder;

namespace Platform.ServiceDefaults;

public static class PlatformWebApplication
{
    /// <summary>
    /// A web application builder whose content root is the program's own directory, so its appsettings.json (the
    /// fixed ports and defaults) is read wherever the program is started from (`dotnet run --project ...` from the
    /// repository root, a service manager, a test).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(string[] args) =>
        WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
}
