using System.Diagnostics.CodeAnalysis;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Platform.BuildingBlocks.Errors;

namespace Platform.BuildingBlocks.Grpc;

/// <summary>Builders of RpcExceptions carrying a google.rpc.Status, so rich details survive JSON transcoding.</summary>
public static class RpcErrors
{
    public static RpcException Status(Code code, string message) =>
        new Google.Rpc.Status { Code = (int)code, Message = message }.ToRpcException();

    public static RpcException InvalidArgument(string message, IEnumerable<FieldViolation> violations)
    {
        var badRequest = new BadRequest();
        foreach (var v in violations)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = v.Field, Description = v.Description });
        }

        var status = new Google.Rpc.Status { Code = (int)Code.InvalidArgument, Message = message };
        status.Details.Add(Any.Pack(badRequest));
        return status.ToRpcException();
    }

    [DoesNotReturn]
    public static void ThrowInvalid(string field, string description) =>
        throw new ValidationFailedException(field, description);
}
