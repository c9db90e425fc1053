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
}
