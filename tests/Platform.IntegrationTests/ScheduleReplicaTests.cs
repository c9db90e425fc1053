using Dapper;
using Npgsql;
using Platform.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Platform.IntegrationTests;

/// <summary>Two platform processes on one database both run the schedule worker: each slot fires once.</summary>
public sealed class ScheduleReplicaTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Two_replicas_fire_each_slot_of_a_schedule_exactly_once()
    {
        await using var platform = await StandalonePlatform.StartAsync();
        var restPort = Ports.Free();
        await using var replica = ServiceProcess.Start("services/Standalone/Platform.Standalone", "Platform.Standalone", new Dictionary<string, string>
        {
            ["ConnectionStrings__Platform"] = platform.ConnectionString,
            ["Kestrel__Endpoints__Rest__Url"] = $"http://127.0.0.1:{restPort}",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{Ports.Free()}",
            ["EmbeddedRunner__Name"] = "replica-b",
        });
        await replica.WaitHealthyAsync($"http://127.0.0.1:{restPort}/healthz", TimeSpan.FromSeconds(60));
        var workflow = await platform.PostAsync("/api/v1/workflows", new
        {
            name = "Every second",
            steps = new[] { new { name = "approve", type = "approval" } },
        });
        var schedule = await platform.PostAsync("/api/v1/schedules", new { workflow_id = (string)workflow["id"]!, interval = "1s", overlap = "allow_all" });

        await Task.Delay(TimeSpan.FromSeconds(8));
        await platform.PostAsync($"/api/v1/schedules/{schedule["id"]}:pause", new { });
        await Task.Delay(TimeSpan.FromSeconds(1));

        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var fires = (await connection.QueryAsync<(DateTime Slot, Guid? Execution)>(
            "SELECT slot_time, execution_id FROM triggers.schedule_fires WHERE schedule_id = @id ORDER BY slot_time",
            new { id = Guid.Parse((string)schedule["id"]!) })).AsList();
        var executions = await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM execution.executions WHERE workflow_id = @id", new { id = Guid.Parse((string)workflow["id"]!) });
        var byA = platform.Output.Split('\n').Count(l => l.Contains($"Schedule {schedule["id"]} fired slot", StringComparison.Ordinal));
        var byB = replica.Output.Split('\n').Count(l => l.Contains($"Schedule {schedule["id"]} fired slot", StringComparison.Ordinal));
        output.WriteLine($"{fires.Count} slots fired, {executions} executions; fired by replica A: {byA}, by replica B: {byB}");

        Assert.True(fires.Count >= 6, $"only {fires.Count} slots fired in 8 s");
        Assert.Equal(fires.Count, executions);
        Assert.Equal(fires.Count, byA + byB);
        Assert.All(fires, f => Assert.NotNull(f.Execution));
        Assert.All(fires.Zip(fires.Skip(1)), pair => Assert.Equal(TimeSpan.FromSeconds(1), pair.Second.Slot - pair.First.Slot));
    }
}
