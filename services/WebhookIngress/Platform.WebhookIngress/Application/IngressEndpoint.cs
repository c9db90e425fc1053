using System.Text.Json.Serialization;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Platform.WebhookIngress.Application;

/// <summary>The public endpoint <c>POST /hooks/{trigger_id}</c>.</summary>
public static class IngressEndpoint
{
    public const int MaxBodyBytes = 1 << 20;

    public sealed record Accepted([property: JsonPropertyName("delivery_id")] Guid DeliveryId,
        [property: JsonPropertyName("duplicate")] bool Duplicate);

    public sealed record Refused([property: JsonPropertyName("error")] string Error,
        [property: JsonPropertyName("delivery_id")] Guid? DeliveryId);

    public static IEndpointRouteBuilder MapWebhookEndpoint(this IEndpointRouteBuilder app)
    {
        app.MapPost("/hooks/{triggerId}", ReceiveAsync);
        return app;
    }

    private static async Task<IResult> ReceiveAsync(string triggerId, HttpRequest request, WebhookReceiver receiver,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(triggerId, out var id))
        {
            return Results.Json(new Refused($"no webhook trigger '{triggerId}'", null), statusCode: StatusCodes.Status404NotFound);
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return Results.Json(new Refused($"the body is larger than {MaxBodyBytes} bytes", null), statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        var body = await ReadBodyAsync(request, cancellationToken);
        if (body is null)
        {
            return Results.Json(new Refused($"the body is larger than {MaxBodyBytes} bytes", null), statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        try
        {
            var result = await receiver.ReceiveAsync(id, body, request.Headers, cancellationToken);
            return result.Error is null
                ? Results.Json(new Accepted(result.DeliveryId!.Value, result.Duplicate), statusCode: result.StatusCode)
                : Results.Json(new Refused(result.Error, result.DeliveryId), statusCode: result.StatusCode);
        }
        catch (Exception ex) when (ex is NpgsqlException or RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded })
        {
            // Nothing was recorded (or its commit is unknown): the sender must retry; a retried copy that was in fact
            // recorded is then a duplicate, answered with the same delivery id.
            loggers.CreateLogger(typeof(IngressEndpoint)).LogWarning(ex, "A delivery to trigger {TriggerId} could not be recorded", id);
            return Results.Json(new Refused("the delivery could not be recorded; retry", null), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } length and <= MaxBodyBytes)
        {
            // The usual case: the body is read straight into an array of its announced size, with no buffer to
            // grow and copy for every delivery.
            var body = new byte[length];
            await request.Body.ReadExactlyAsync(body, cancellationToken);
            // Kestrel refuses a body longer than its Content-Length, so nothing is left to read.
            return body;
        }

        using var buffer = new MemoryStream(4096);
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
