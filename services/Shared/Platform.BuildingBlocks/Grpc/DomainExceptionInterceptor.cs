using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Platform.BuildingBlocks.Errors;
using Npgsql;

namespace Platform.BuildingBlocks.Grpc;

/// <summary>
/// Turns domain exceptions into precise gRPC statuses (and so, through JSON transcoding, into HTTP 400/404/409),
/// so that no exception escapes as UNKNOWN and domain code never references gRPC types.
/// </summary>
public sealed class DomainExceptionInterceptor(ILogger<DomainExceptionInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Translate(ex, context);
        }
    }

    private RpcException Translate(Exception ex, ServerCallContext context)
    {
        switch (ex)
        {
            case ValidationFailedException v:
                return RpcErrors.InvalidArgument(v.Message, v.Violations);
            case NotFoundException nf:
                return RpcErrors.Status(Code.NotFound, nf.Message);
            case AlreadyExistsException ae:
                return RpcErrors.Status(Code.AlreadyExists, ae.Message);
            case PreconditionFailedException pf:
                return RpcErrors.Status(Code.FailedPrecondition, pf.Message);
            case UnauthenticatedException ua:
                return RpcErrors.Status(Code.Unauthenticated, ua.Message);
            case PermissionDeniedException pd:
                return RpcErrors.Status(Code.PermissionDenied, pd.Message);
            case DependencyUnavailableException du:
                logger.LogWarning(ex, "Dependency unavailable in {Method}", context.Method);
                return RpcErrors.Status(Code.Unavailable, du.Message);
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return RpcErrors.Status(Code.Cancelled, "the call was cancelled");
            case NpgsqlException { IsTransient: true }:
                logger.LogWarning(ex, "Transient database failure in {Method}", context.Method);
                return RpcErrors.Status(Code.Unavailable, "the database is unavailable; retry");
            default:
                logger.LogError(ex, "Unhandled failure in {Method}", context.Method);
                return RpcErrors.Status(Code.Internal, "internal error");
        }
    }
}
