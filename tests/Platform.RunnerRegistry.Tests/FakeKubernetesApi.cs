using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// An in-test stand-in for the few Kubernetes API calls the Kubernetes executor makes (no API server can run here):
/// create a pod, read it, follow its log, delete it. Every request is recorded so tests can assert them. A pod plays
/// the part <see cref="Script"/> gives it: pending for a read or two, then running while its log lines are written,
/// then terminated with the exit code and termination message — or stuck in an image pull, or running until deleted.
/// </summary>
public sealed class FakeKubernetesApi : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, FakePod> pods = new();

    public sealed record Request(string Method, string Path, string Query, JsonNode? Body);

    /// <summary>How the next pods behave.</summary>
    public sealed record PodScript(string[] LogLines, int ExitCode = 0, string TerminationMessage = "",
        bool RunUntilDeleted = false, string? WaitingReason = null);

    public PodScript Script { get; set; } = new([]);

    public ConcurrentQueue<Request> Requests { get; } = new();

    public Uri Address { get; }

    private FakeKubernetesApi(WebApplication app, Uri address)
    {
        this.app = app;
        Address = address;
    }

    public static async Task<FakeKubernetesApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeKubernetesApi? fake = null;
        app.Run(context => fake!.HandleAsync(context));
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        fake = new FakeKubernetesApi(app, address);
        return fake;
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        JsonNode? body = null;
        if (request.ContentLength is > 0 || request.Method is "POST" or "DELETE")
        {
            var text = await new StreamReader(request.Body).ReadToEndAsync();
            body = text.Length > 0 ? JsonNode.Parse(text) : null;
        }

        Requests.Enqueue(new Request(request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "", body));
        var parts = (request.Path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        // api/v1/namespaces/{ns}/pods[/{name}[/log]]
        if (parts is not ["api", "v1", "namespaces", var ns, "pods", ..])
        {
            context.Response.StatusCode = 404;
            return;
        }

        switch (request.Method, parts.Length)
        {
            case ("POST", 5):
                var name = body!["metadata"]!["name"]!.GetValue<string>();
                var pod = new FakePod(ns, body.DeepClone(), Script);
                if (!pods.TryAdd(name, pod))
                {
                    await Status(context, 409, "AlreadyExists", $"pods \"{name}\" already exists");
                    return;
                }

                await Json(context, 201, pod.ToJson());
                return;
            case ("GET", 6) when pods.TryGetValue(parts[5], out var read):
                await Json(context, 200, read.Read());
                return;
            case ("GET", 7) when parts[6] == "log" && pods.TryGetValue(parts[5], out var logged):
                await logged.StreamLogAsync(context);
                return;
            case ("DELETE", 6) when pods.TryGetValue(parts[5], out var deleted):
                deleted.Delete();
                await Json(context, 200, deleted.ToJson());
                return;
            default:
                await Status(context, 404, "NotFound", $"pods \"{(parts.Length > 5 ? parts[5] : "")}\" not found");
                return;
        }
    }

    private static async Task Json(HttpContext context, int status, JsonNode json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json.ToJsonString());
    }

    private static Task Status(HttpContext context, int code, string reason, string message) =>
        Json(context, code, new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["status"] = "Failure", ["message"] = message, ["reason"] = reason,
            ["code"] = code,
        });

    private sealed class FakePod(string ns, JsonNode created, PodScript script)
    {
        private readonly Lock gate = new();
        private readonly TaskCompletionSource deleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int reads;
        private bool terminated;

        public void Delete() => deleted.TrySetResult();

        /// <summary>The first read finds the pod pending; then it runs (or waits on its image, as scripted).</summary>
        public JsonNode Read()
        {
            lock (gate)
            {
                reads++;
                if (!script.RunUntilDeleted && script.WaitingReason is null && script.LogLines.Length == 0 && reads > 1)
                {
                    terminated = true;
                }
            }

            return ToJson();
        }

        public async Task StreamLogAsync(HttpContext context)
        {
            context.Response.ContentType = "text/plain";
            foreach (var line in script.LogLines)
            {
                await context.Response.WriteAsync(line + "\n");
                await context.Response.Body.FlushAsync();
                await Task.Delay(20);
            }

            if (script.RunUntilDeleted)
            {
                await Task.WhenAny(deleted.Task, Task.Delay(Timeout.Infinite, context.RequestAborted));
            }

            lock (gate)
            {
                terminated = true;
            }
        }

        public JsonNode ToJson()
        {
            var pod = created.DeepClone();
            pod["metadata"]!["namespace"] = ns;
            JsonObject state;
            string phase;
            lock (gate)
            {
                if (terminated || deleted.Task.IsCompleted)
                {
                    var exitCode = deleted.Task.IsCompleted && script.RunUntilDeleted ? 137 : script.ExitCode;
                    phase = exitCode == 0 ? "Succeeded" : "Failed";
                    state = new JsonObject
                    {
                        ["terminated"] = new JsonObject
                        {
                            ["exitCode"] = exitCode,
                            ["reason"] = exitCode == 0 ? "Completed" : "Error",
                            ["message"] = script.TerminationMessage,
                        },
                    };
                }
                else if (reads <= 1 || script.WaitingReason is not null)
                {
                    phase = "Pending";
                    state = new JsonObject
                    {
                        ["waiting"] = new JsonObject
                        {
                            ["reason"] = reads <= 1 ? "ContainerCreating" : script.WaitingReason,
                            ["message"] = reads <= 1 ? "" : "Back-off pulling image",
                        },
                    };
                }
                else
                {
                    phase = "Running";
                    state = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = "2026-01-01T00:00:00Z" } };
                }
            }

            pod["status"] = new JsonObject
            {
                ["phase"] = phase,
                ["containerStatuses"] = new JsonArray(new JsonObject
                {
                    ["name"] = "job", ["ready"] = false, ["restartCount"] = 0, ["image"] = "x", ["imageID"] = "",
                    ["state"] = state,
                }),
            };
            return pod;
        }
    }
}
