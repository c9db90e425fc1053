using Google.Protobuf.Reflection;
using Google.Rpc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Platform.BuildingBlocks.Grpc;

public static class GrpcExtensions
{
    private sealed class Marker;

    /// <summary>gRPC with JSON transcoding (REST at /api/v1) and domain-error translation. Idempotent, so every
    /// module may call it and the Standalone host composes them.</summary>
    public static IHostApplicationBuilder AddPlatformGrpc(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(Marker)))
        {
            return builder;
        }

        builder.Services.AddSingleton<Marker>();
        builder.Services
            .AddGrpc(options =>
            {
                options.Interceptors.Add<DomainExceptionInterceptor>();
                options.EnableDetailedErrors = false;
            })
            // The error details the API returns must be in the registry, or transcoding cannot write them and a 400
            // becomes an empty 500.
            .AddJsonTranscoding(o => o.TypeRegistry = TypeRegistry.FromMessages(BadRequest.Descriptor));
        return builder;
    }

    /// <summary>
    /// A gRPC client of another context at <paramref name="address"/>. A service that restarts is called again within
    /// about a second, not after gRPC's default reconnect backoff (up to two minutes between attempts, failing every
    /// call meanwhile).
    /// </summary>
    public static IServiceCollection AddPlatformGrpcClient<TClient>(this IServiceCollection services, Uri address)
        where TClient : class
    {
        services.AddGrpcClient<TClient>(o => o.Address = address).ConfigureChannel(channel =>
        {
            channel.InitialReconnectBackoff = TimeSpan.FromMilliseconds(200);
            channel.MaxReconnectBackoff = TimeSpan.FromSeconds(1);
        });
        return services;
    }
}
