using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Execution.V1;
using Platform.Testing;
using Xunit;

namespace Platform.IntegrationTests;

/// <summary>The REST routes are transcoded gRPC methods: gRPC clients call the same API on the gRPC port.</summary>
public sealed class GrpcApiTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>, IDisposable
{
    private readonly GrpcChannel channel = GrpcChannel.ForAddress(fixture.Platform.GrpcUrl);
    private readonly string team = "grpc-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_workflow_defined_and_started_over_gRPC_runs_and_is_readable_over_REST()
    {
        var definitions = new Definitions.DefinitionsClient(channel);
        var agent = await definitions.CreateAgentAsync(new CreateAgentRequest { Name = "ok", Command = { "true" }, TeamId = team });
        var workflow = await definitions.CreateWorkflowAsync(new CreateWorkflowRequest
        {
            Name = "Over gRPC",
            TeamId = team,
            Steps = { new Step { Name = "only", AgentId = agent.Id } },
        });

        var executions = new Executions.ExecutionsClient(channel);
        var started = await executions.StartExecutionAsync(new StartExecutionRequest
        {
            WorkflowId = workflow.Id,
            Input = new Struct { Fields = { ["who"] = Value.ForString("grpc") } },
        });
        var finished = await fixture.Platform.WaitForExecutionAsync(started.Id, TimeSpan.FromSeconds(60));

        Assert.Equal("EXECUTION_STATUS_SUCCEEDED", (string?)finished["status"]);
        var read = await executions.GetExecutionAsync(new GetExecutionRequest { Id = started.Id });
        Assert.Equal(Protos.Execution.V1.ExecutionStatus.Succeeded, read.Status);
        Assert.Equal("grpc", read.Input.Fields["who"].StringValue);
    }

    [Fact]
    public async Task A_validation_failure_over_gRPC_is_InvalidArgument_with_field_violations()
    {
        var definitions = new Definitions.DefinitionsClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(() => definitions.CreateWorkflowAsync(new CreateWorkflowRequest
        {
            TeamId = team,
            Steps = { new Step { Name = "a", Agent = "no-such-agent" } },
        }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var badRequest = error.GetRpcStatus()!.GetDetail<BadRequest>();
        Assert.Contains(badRequest.FieldViolations, v => v.Field == "name");
        Assert.Contains(badRequest.FieldViolations, v => v.Field == "steps[0].agent");
    }

    public void Dispose() => channel.Dispose();
}
