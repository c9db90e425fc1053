using Npgsql;

namespace Platform.BuildingBlocks.Persistence;

/// <summary>
/// A transaction's COMMIT sent in the same batch as its last writes: one round trip instead of two on a hot path.
/// Npgsql follows the transaction's state from the server's answers, so once the batch ran the
/// <see cref="NpgsqlTransaction"/> is completed: do not commit it again (disposing it is harmless). When a statement of
/// the batch fails, the server skips the rest — the COMMIT too — and disposing the transaction rolls it back.
/// </summary>
public static class BatchCommit
{
    public static void AddCommit(this NpgsqlBatch batch) => batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
}
