using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Messaging;
using Platform.Execution.Persistence;

namespace Platform.Execution.Engine;

/// <summary>
/// The safety net under the event path (DESIGN §5): executions that have not moved for a while get their running
/// steps compared with the jobs' states in Runner-Registry, and a job that ended without its event arriving (lost
/// on an in-memory bus in a crash, say) is applied as if the event had come. The core admits each result once, so
/// a late real event after this changes nothing.
/// </summary>
internal sealed class Reconciler(
    NpgsqlDataSource dataSource, ExecutionStore store, ExecutionEngine engine, IJobQueue jobQueue,
    IConfiguration configuration, ILogger<Reconciler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(configuration.GetValue("Execution:ReconcileIntervalSeconds", 15));
        var quiet = TimeSpan.FromSeconds(configuration.GetValue("Execution:ReconcileAfterSeconds", 5));
        // A first pass soon after start catches what a crash left behind.
        var delay = TimeSpan.FromSeconds(2);
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(delay, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            delay = interval;
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await ReconcileAsync(quiet, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Reconciliation failed; trying again in {Interval}", interval);
            }
        }
    }

    private async Task ReconcileAsync(TimeSpan quiet, CancellationToken cancellationToken)
    {
        IReadOnlyList<Guid> stale;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            stale = await store.StaleRunningAsync(connection, quiet, limit: 500);
        }

        foreach (var executionId in stale)
        {
            if (await engine.ReadAsync(executionId, cancellationToken) is not { } read)
            {
                continue;
            }

            var active = read.State.Steps
                .Where(s => s.IsActive)
                .Select(s => new JobOfStep(ExecutionEngine.JobId(executionId, s.Name, s.Attempt), s.Name, s.Attempt))
                .ToList();
            if (active.Count == 0)
            {
                continue;
            }

            foreach (var result in await jobQueue.GetEndedJobsAsync(active, cancellationToken))
            {
                logger.LogWarning("Execution {ExecutionId}: step {Step} ended on its runner without its event arriving; applying it now",
                    executionId, result.Step);
                var jobId = ExecutionEngine.JobId(executionId, result.Step, result.StepAttempt);
                await engine.ApplyAsync(executionId, JobResults.Finished(result),
                    DeterministicGuid.Create(jobId.ToString(), result.JobAttempt.ToString(System.Globalization.CultureInfo.InvariantCulture), "reconciled"),
                    nameof(Reconciler), cancellationToken);
            }
        }
    }
}
