using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Definitions.V1;

namespace Platform.Triggers.Grpc;

/// <summary>Small conversions at the edge of this context's gRPC services.</summary>
internal static class Mapping
{
    public static Timestamp? Time(DateTime? time) =>
        time is { } t ? Timestamp.FromDateTime(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;

    public static Timestamp Stamp(DateTimeOffset time) => Timestamp.FromDateTimeOffset(time);

    public static DateTimeOffset? Time(Timestamp? time) => time?.ToDateTimeOffset();

    public static Struct Struct(string json) => JsonParser.Default.Parse<Struct>(json);

    public static string Json(IMessage? message) => message is null ? "{}" : JsonFormatter.Default.Format(message);

    public static Guid? OptionalId(string value, string field) =>
        value.Length == 0 ? null
        : Guid.TryParse(value, out var id) ? id
        : throw new ValidationFailedException(field, "is not an id");

    /// <summary>The workflow must exist when a schedule or trigger is created for it (asked of Definitions).</summary>
    public static async Task<Guid> ExistingWorkflowAsync(Definitions.DefinitionsClient definitions, string workflowId, string field,
        CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(workflowId, out var id))
        {
            throw new ValidationFailedException(field, workflowId.Length == 0 ? "is required" : "is not a workflow id");
        }

        try
        {
            await definitions.GetWorkflowAsync(new GetWorkflowRequest { Id = workflowId }, cancellationToken: cancellationToken);
            return id;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            throw new ValidationFailedException(field, $"no workflow has the id '{workflowId}'");
        }
    }
}
