using Grpc.Core;
using Grpc.Core.Interceptors;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Grpc;

/// <summary>
/// Authenticates every RunnerAgent call but Register by its <c>authorization: Bearer &lt;credential&gt;</c> metadata
/// and hands the runner to the service through the call's user state. Scoped to the RunnerAgent service; the global
/// domain-exception interceptor runs outside it and turns a refusal into UNAUTHENTICATED.
/// </summary>
internal sealed class RunnerCredentialInterceptor(RunnerAuthenticator authenticator) : Interceptor
{
    private const string RegisterMethod = "/platform.runners.v1.RunnerAgent/Register";
    private const string BearerPrefix = "Bearer ";
    private static readonly object RunnerKey = new();

    public static AuthenticatedRunner RunnerOf(ServerCallContext context) =>
        context.UserState.TryGetValue(RunnerKey, out var runner)
            ? (AuthenticatedRunner)runner
            : throw new InvalidOperationException("the call was not authenticated (is the interceptor registered?)");

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (!string.Equals(context.Method, RegisterMethod, StringComparison.Ordinal))
        {
            var header = context.RequestHeaders.GetValue("authorization");
            var credential = header is not null && header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase)
                ? header[BearerPrefix.Length..].Trim()
                : null;
            context.UserState[RunnerKey] = await authenticator.AuthenticateAsync(credential, context.CancellationToken);
        }

        return await continuation(request, context);
    }
}
