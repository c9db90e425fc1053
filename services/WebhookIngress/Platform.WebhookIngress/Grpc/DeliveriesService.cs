using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Ingress.V1;
using Platform.WebhookIngress.Application;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress.Grpc;

internal sealed class DeliveriesService(DeliveryStore store, WebhookReceiver receiver) : Deliveries.DeliveriesBase
{
    public override async Task<ListDeliveriesResponse> ListDeliveries(ListDeliveriesRequest request, ServerCallContext context)
    {
        var triggerId = Ids.Parse(request.TriggerId, "trigger");
        if (request.Status is not ("" or "accepted" or "rejected"))
        {
            throw new ValidationFailedException("status", "must be accepted or rejected");
        }

        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var rows = await store.ListAsync(triggerId, request.Status.Length == 0 ? null : request.Status, offset, size);
        var response = new ListDeliveriesResponse { NextPageToken = Paging.NextToken(offset, size, rows.Count) };
        response.Deliveries.AddRange(rows.Select(ToProto));
        return response;
    }

    public override async Task<Delivery> GetDelivery(DeliveryRequest request, ServerCallContext context) =>
        ToProto(await store.GetAsync(Ids.Parse(request.TriggerId, "trigger"), Ids.Parse(request.Id, "delivery"))
            ?? throw new NotFoundException("delivery", request.Id));

    public override async Task<Delivery> ReplayDelivery(DeliveryRequest request, ServerCallContext context)
    {
        var triggerId = Ids.Parse(request.TriggerId, "trigger");
        var original = await store.GetAsync(triggerId, Ids.Parse(request.Id, "delivery"))
            ?? throw new NotFoundException("delivery", request.Id);
        if (original.Status != "accepted")
        {
            throw new PreconditionFailedException("only an accepted delivery can be replayed; a rejected one was never verified");
        }

        var replay = await receiver.ReplayAsync(triggerId, original.Id, context.CancellationToken)
            ?? throw new NotFoundException("delivery", request.Id);
        return ToProto((await store.GetAsync(triggerId, replay))!);
    }

    private static Delivery ToProto(DeliveryRecord d) => new()
    {
        Id = d.Id.ToString(),
        TriggerId = d.TriggerId.ToString(),
        Status = d.Status,
        Reason = d.Reason ?? "",
        Outcome = d.Status == "accepted" ? d.Outcome ?? "pending" : "",
        ExecutionId = d.ExecutionId?.ToString() ?? "",
        Detail = d.Detail ?? "",
        DedupeKey = d.DedupeKey ?? "",
        Duplicates = d.Duplicates,
        ReplayOf = d.ReplayOf?.ToString() ?? "",
        ReceivedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(d.ReceivedAt, DateTimeKind.Utc)),
        ProcessedAt = d.ProcessedAt is { } p ? Timestamp.FromDateTime(DateTime.SpecifyKind(p, DateTimeKind.Utc)) : null,
        BodyBytes = d.BodyBytes,
    };
}
