using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Platform.BuildingBlocks.Grpc;

/// <summary>
/// Calls a gRPC service implemented in this same process without HTTP/2: the generated client's calls go to the
/// service's own handlers, behind the same server interceptors (in the order given: the first is the outermost), with
/// the messages passed by reference. For a client that shares a host with its service — the Standalone host's embedded
/// runner — where each loopback call cost a serialisation, an HTTP/2 exchange and two thread hops on every step's path.
/// Statuses, deadlines and cancellation behave as over the wire: a handler's <see cref="RpcException"/> reaches the
/// caller as it is, another exception as <c>UNKNOWN</c>, a deadline that passes as <c>DEADLINE_EXCEEDED</c>.
/// Unary methods only (the caller's other kinds answer <c>UNIMPLEMENTED</c>).
/// </summary>
public sealed class InProcessCallInvoker : CallInvoker
{
    private readonly Dictionary<string, object> pipelines;

    private InProcessCallInvoker(Dictionary<string, object> pipelines) => this.pipelines = pipelines;

    /// <param name="service">the service's implementation.</param>
    /// <param name="bind">the generated <c>BindService(ServiceBinderBase, TServiceBase)</c> of the service.</param>
    /// <param name="interceptors">the server interceptors the service runs behind over gRPC, outermost first.</param>
    public static InProcessCallInvoker Create<TService>(TService service, Action<ServiceBinderBase, TService> bind,
        params Interceptor[] interceptors)
    {
        var binder = new UnaryBinder(interceptors);
        bind(binder, service);
        return new InProcessCallInvoker(binder.Pipelines);
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
        string? host, CallOptions options, TRequest request)
    {
        var call = new Call<TRequest, TResponse>(method.FullName, options);
        var response = pipelines.TryGetValue(method.FullName, out var pipeline)
            ? call.RunAsync((UnaryServerMethod<TRequest, TResponse>)pipeline, request)
            : Task.FromException<TResponse>(new RpcException(new Status(StatusCode.Unimplemented,
                $"{method.FullName} is not served in process")));
        return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), call.GetStatus, call.GetTrailers,
            call.Dispose);
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host,
        CallOptions options, TRequest request) =>
        AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw NotUnary(method);

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw NotUnary(method);

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw NotUnary(method);

    private static RpcException NotUnary(IMethod method) =>
        new(new Status(StatusCode.Unimplemented, $"{method.FullName}: only unary methods are served in process"));

    /// <summary>One call: its context, its deadline and cancellation, and the status it ended with.</summary>
    private sealed class Call<TRequest, TResponse>(string method, CallOptions options) : IDisposable
        where TRequest : class where TResponse : class
    {
        private readonly CancellationTokenSource cancel = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        private Status status;
        private Metadata trailers = [];
        private int ended;

        public async Task<TResponse> RunAsync(UnaryServerMethod<TRequest, TResponse> pipeline, TRequest request)
        {
            var deadline = options.Deadline ?? DateTime.MaxValue;
            if (deadline != DateTime.MaxValue)
            {
                var left = deadline.ToUniversalTime() - DateTime.UtcNow;
                cancel.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }

            var context = new InProcessServerCallContext(method, options.Headers ?? [], deadline, cancel.Token);
            try
            {
                var response = await pipeline(request, context);
                status = context.Status;
                trailers = context.ResponseTrailers;
                return response;
            }
            catch (Exception) when (cancel.IsCancellationRequested)
            {
                // Whatever the handler made of it, the caller sees its own cancellation or deadline, as over the wire.
                status = options.CancellationToken.IsCancellationRequested
                    ? new Status(StatusCode.Cancelled, "the call was cancelled")
                    : new Status(StatusCode.DeadlineExceeded, "the call's deadline passed");
                throw new RpcException(status);
            }
            catch (RpcException ex)
            {
                (status, trailers) = (ex.Status, ex.Trailers);
                throw;
            }
            catch (Exception ex)
            {
                // What a gRPC server answers for an exception its interceptors did not turn into a status.
                status = new Status(StatusCode.Unknown, "Exception was thrown by handler.", ex);
                throw new RpcException(status);
            }
            finally
            {
                End(); // callers rarely dispose a finished call: its deadline timer goes now, not when it would fire
            }
        }

        public Status GetStatus() => status;

        public Metadata GetTrailers() => trailers;

        /// <summary>Cancels the call if it is still running (what disposing a call over the wire does).</summary>
        public void Dispose()
        {
            if (Volatile.Read(ref ended) == 0)
            {
                try
                {
                    cancel.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // it ended meanwhile
                }
            }
        }

        private void End()
        {
            if (Interlocked.Exchange(ref ended, 1) == 0)
            {
                cancel.Dispose();
            }
        }
    }

    /// <summary>Collects a service's unary handlers from its generated binder, each wrapped in the interceptors.</summary>
    private sealed class UnaryBinder(Interceptor[] interceptors) : ServiceBinderBase
    {
        public Dictionary<string, object> Pipelines { get; } = new(StringComparer.Ordinal);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            UnaryServerMethod<TRequest, TResponse>? handler)
        {
            if (handler is null)
            {
                return;
            }

            var pipeline = handler;
            for (var i = interceptors.Length - 1; i >= 0; i--)
            {
                var (interceptor, next) = (interceptors[i], pipeline);
                pipeline = (request, context) => interceptor.UnaryServerHandler(request, context, next);
            }

            Pipelines[method.FullName] = pipeline;
        }

        // The generated binder also names its streaming methods; they are left out (answered UNIMPLEMENTED).
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
            DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
        }
    }

    private sealed class InProcessServerCallContext(string method, Metadata requestHeaders, DateTime deadline,
        CancellationToken cancellationToken) : ServerCallContext
    {
        private readonly Metadata responseTrailers = [];

        protected override string MethodCore => method;
        protected override string HostCore => "in-process";
        protected override string PeerCore => "in-process";
        protected override DateTime DeadlineCore => deadline;
        protected override Metadata RequestHeadersCore => requestHeaders;
        protected override CancellationToken CancellationTokenCore => cancellationToken;
        protected override Metadata ResponseTrailersCore => responseTrailers;
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore => new(null, new Dictionary<string, List<AuthProperty>>());

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            throw new NotSupportedException("calls served in process do not propagate their context");

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
