using Grpc.Core;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

public sealed class RegistrationTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task Register_with_a_valid_token_returns_a_credential_and_the_intervals()
    {
        var request = new RegisterRunnerRequest { RegistrationToken = await f.CreateTokenAsync(), Name = Unique("r") };

        var response = await f.Agent.RegisterAsync(request);

        Assert.True(Guid.TryParse(response.RunnerId, out _));
        Assert.StartsWith("prc_", response.Credential, StringComparison.Ordinal);
        Assert.Equal(5, response.HeartbeatIntervalSeconds);
        Assert.Equal(30, response.LeaseTimeoutSeconds);
    }

    [Fact]
    public async Task Register_with_an_unknown_token_is_unauthenticated_with_a_clear_message()
    {
        var error = await RefusedAsync(() => f.Agent.RegisterAsync(
            new RegisterRunnerRequest { RegistrationToken = "prt_nonsense", Name = Unique("r") }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("registration token is not valid", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_with_an_expired_token_is_unauthenticated()
    {
        var token = await f.CreateTokenAsync(expiresIn: 3600);
        await f.ExecuteSqlAsync("UPDATE runners.registration_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256(convert_to(@token, 'UTF8'))",
            new { token });

        var error = await RefusedAsync(() => f.Agent.RegisterAsync(
            new RegisterRunnerRequest { RegistrationToken = token, Name = Unique("r") }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("expired", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_single_use_token_registers_one_runner_only()
    {
        var token = await f.CreateTokenAsync(singleUse: true);
        await f.Agent.RegisterAsync(new RegisterRunnerRequest { RegistrationToken = token, Name = Unique("r") });

        var error = await RefusedAsync(() => f.Agent.RegisterAsync(
            new RegisterRunnerRequest { RegistrationToken = token, Name = Unique("r") }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("single-use registration token was already used", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reusable_token_registers_many_runners()
    {
        var token = await f.CreateTokenAsync();

        await f.RegisterAsync([], token: token);
        await f.RegisterAsync([], token: token);
    }

    [Fact]
    public async Task Only_the_hash_of_a_registration_token_is_stored()
    {
        var token = await f.CreateTokenAsync();

        await using var connection = new Npgsql.NpgsqlConnection(f.ConnectionString);
        var plain = await Dapper.SqlMapper.ExecuteScalarAsync<int>(connection,
            "SELECT count(*) FROM runners.registration_tokens WHERE position(convert_to(@token, 'UTF8') IN token_hash) > 0", new { token });
        var hashed = await Dapper.SqlMapper.ExecuteScalarAsync<int>(connection,
            "SELECT count(*) FROM runners.registration_tokens WHERE token_hash = sha256(convert_to(@token, 'UTF8'))", new { token });
        Assert.Equal(0, plain);
        Assert.Equal(1, hashed);
    }

    [Fact]
    public async Task The_token_labels_are_added_to_the_runner_labels()
    {
        var token = await f.CreateTokenAsync(["gpu", "linux"]);

        var runner = await f.RegisterAsync(["linux", "x64"], capacity: 3, token: token);
        var view = await f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = runner.Id });

        Assert.Equal(["gpu", "linux", "x64"], view.Labels);
        Assert.Equal(3, view.Capacity);
        Assert.Equal("process", view.Executor);
        Assert.Equal("test", view.Version);
        Assert.Equal(RunnerState.Online, view.State);
    }

    [Fact]
    public async Task Register_with_invalid_settings_names_the_fields()
    {
        var request = new RegisterRunnerRequest
        {
            RegistrationToken = await f.CreateTokenAsync(), Name = " ", Capacity = -1, Executor = "mainframe",
        };

        var error = await RefusedAsync(() => f.Agent.RegisterAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("name", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("capacity", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("executor", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_calls_without_a_valid_credential_are_unauthenticated()
    {
        var missing = await RefusedAsync(() => f.Agent.HeartbeatAsync(new HeartbeatRequest()).ResponseAsync);
        var wrong = await RefusedAsync(() => f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 1 },
            new Metadata { { "authorization", "Bearer prc_forged" } }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
    }

    [Fact]
    public async Task Registering_an_existing_name_replaces_the_runner_and_its_credential_stops_working()
    {
        var name = Unique("same");
        var old = await f.RegisterAsync([], name: name);

        var fresh = await f.RegisterAsync([], name: name);

        var error = await RefusedAsync(() => f.Agent.HeartbeatAsync(new HeartbeatRequest(), old.Headers).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        await f.Agent.HeartbeatAsync(new HeartbeatRequest(), fresh.Headers);
        var listed = (await f.Registry.ListRunnersAsync(new ListRunnersRequest { PageSize = 500 })).Runners
            .Where(r => r.Name == name).ToList();
        Assert.Equal(fresh.Id, Assert.Single(listed).Id);
        var gone = await RefusedAsync(() => f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = old.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task ListRunners_shows_capacity_state_and_running_jobs_per_runner()
    {
        var label = Unique("list");
        var busy = await f.RegisterAsync([label], capacity: 2);
        var idle = await f.RegisterAsync([label]);
        await f.EnqueueAsync([label]);
        Assert.NotNull(await f.AcquireAsync(busy));

        var runners = (await f.Registry.ListRunnersAsync(new ListRunnersRequest { PageSize = 500 })).Runners;

        var busyView = runners.Single(r => r.Id == busy.Id);
        var idleView = runners.Single(r => r.Id == idle.Id);
        Assert.Equal((2, 1, RunnerState.Online), (busyView.Capacity, busyView.RunningJobs, busyView.State));
        Assert.Equal((1, 0, RunnerState.Online), (idleView.Capacity, idleView.RunningJobs, idleView.State));
        Assert.NotNull(busyView.LastHeartbeatAt);
    }

    [Fact]
    public async Task ListRunners_pages_with_a_page_token()
    {
        for (var i = 0; i < 3; i++)
        {
            await f.RegisterAsync([]);
        }

        var first = await f.Registry.ListRunnersAsync(new ListRunnersRequest { PageSize = 2 });
        var second = await f.Registry.ListRunnersAsync(new ListRunnersRequest { PageSize = 2, PageToken = first.NextPageToken });

        Assert.Equal(2, first.Runners.Count);
        Assert.NotEmpty(first.NextPageToken);
        Assert.Empty(first.Runners.Select(r => r.Id).Intersect(second.Runners.Select(r => r.Id)));
    }

    [Fact]
    public async Task An_agent_refused_at_registration_ends_with_exit_code_1_and_the_reason()
    {
        await using var agent = f.StartAgent([], token: "prt_not-a-token");

        var exit = await agent.Run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RunnerExitReason.RegistrationRefused, exit.Reason);
        Assert.Equal(1, exit.ExitCode);
        Assert.Contains("registration token is not valid", exit.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_whose_name_is_taken_over_ends_with_exit_code_1()
    {
        var name = Unique("taken");
        await using var agent = f.StartAgent([Unique("none")], name: name);
        await agent.Agent.Registered.WaitAsync(TimeSpan.FromSeconds(10));

        await f.RegisterAsync([], name: name);

        var exit = await agent.Run.WaitAsync(TimeSpan.FromSeconds(40));
        Assert.Equal(RunnerExitReason.CredentialRejected, exit.Reason);
        Assert.Equal(1, exit.ExitCode);
    }
}
