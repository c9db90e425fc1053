using Dapper;
using Platform.Triggers.Domain;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Tests;

/// <summary>What keeps replicas from firing a slot twice, on real PostgreSQL.</summary>
public sealed class ScheduleStoreTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private readonly ScheduleStore store = new(db.DataSource);

    private async Task<ScheduleRecord> DueScheduleAsync()
    {
        var now = DateTime.UtcNow;
        var schedule = new ScheduleRecord(Guid.CreateVersion7(), Guid.CreateVersion7(), "", "", "1m", "", "{}", "skip", "skip",
            null, null, false, now.AddSeconds(-1), null, now.AddMinutes(-1));
        await store.InsertAsync(schedule);
        return schedule;
    }

    [Fact]
    public async Task A_due_schedule_held_by_one_replica_is_skipped_by_another()
    {
        await using (var cleanup = await db.DataSource.OpenConnectionAsync())
        {
            await cleanup.ExecuteAsync("UPDATE triggers.schedules SET paused = true");
        }

        var schedule = await DueScheduleAsync();
        await using var first = await db.DataSource.OpenConnectionAsync();
        await using var firstTx = await first.BeginTransactionAsync();
        await using var second = await db.DataSource.OpenConnectionAsync();
        await using var secondTx = await second.BeginTransactionAsync();

        var held = await store.LockDueAsync(first, firstTx, DateTimeOffset.UtcNow);
        var other = await store.LockDueAsync(second, secondTx, DateTimeOffset.UtcNow);

        Assert.Equal(schedule.Id, held?.Id);
        Assert.Null(other);
    }

    [Fact]
    public async Task A_slot_is_recorded_once_whoever_fires_it()
    {
        var schedule = await DueScheduleAsync();
        var slot = new DateTimeOffset(2026, 11, 24, 10, 0, 0, TimeSpan.Zero);

        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            await using var connection = await db.DataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            var claimed = await store.InsertFireAsync(connection, transaction, schedule.Id, slot, FireOutcomes.Started, DateTimeOffset.UtcNow);
            await transaction.CommitAsync();
            return claimed;
        }));

        Assert.Single(claims, c => c);
        Assert.Single(await store.RecentFiresAsync(schedule.Id, 10));
    }
}
