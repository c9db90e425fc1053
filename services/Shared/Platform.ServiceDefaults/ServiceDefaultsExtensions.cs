using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Platform.ServiceDefaults;

public static class ServiceDefaultsExtensions
{
    /// <summary>Activity sources and meters of the platform's own code start with this prefix.</summary>
    public const string TelemetryPrefix = "Platform";

    /// <summary>OpenTelemetry metrics, and traces and logs exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set;
    /// structured console logs; the health check registry. Call once per host.</summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder, string serviceName)
    {
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        if (string.Equals(builder.Configuration["Logging:Format"], "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.ClearProviders().AddJsonConsole();
        }

        var exporting = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        if (exporting)
        {
            builder.Logging.AddOpenTelemetry(o =>
            {
                o.IncludeFormattedMessage = true;
                o.IncludeScopes = true;
            });
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithMetrics(metrics => metrics
                .AddMeter(TelemetryPrefix + ".*", "MassTransit")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation());

        // Traces and log records only when they go somewhere: with a listener, every request, gRPC call, SQL command
        // and message creates and fills an activity (a few microseconds each, several per step and per job on the hot
        // paths). Metrics are kept (aggregated in place, cheap; readable with dotnet-counters).
        if (exporting)
        {
            telemetry.WithTracing(tracing => tracing
                    .AddSource(TelemetryPrefix + ".*", "MassTransit")
                    .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/healthz"))
                    .AddHttpClientInstrumentation()
                    .AddGrpcClientInstrumentation()
                    .AddNpgsql())
                .UseOtlpExporter();
        }

        builder.Services.AddHealthChecks();
        return builder;
    }

    /// <summary><c>GET /healthz</c>: 200 once the process can serve (its database answers); and JSON request bodies
    /// for the REST API whatever content type the client claimed.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // `curl -d '{...}'` says application/x-www-form-urlencoded; every body of this API is JSON, so a request
        // without a JSON content type is read as JSON rather than refused.
        app.Use((context, next) =>
        {
            var request = context.Request;
            if (request.Path.StartsWithSegments("/api") && request.ContentLength is not 0 &&
                (request.ContentType is null || request.ContentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)))
            {
                request.ContentType = "application/json";
            }

            return next(context);
        });

        app.MapHealthChecks("/healthz", new HealthCheckOptions
        {
            ResponseWriter = (context, report) =>
            {
                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync(report.Status.ToString());
            },
        });
        return app;
    }
}
