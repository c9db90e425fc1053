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
    NpgsqlDataSource dataSource, ExecutionStore store, IExecutionEngine engine, IJobQueue jobQueue,
    IConfiguration configuration, ILogger<Reconciler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(configuration.GetValue("Execution:ReconcileIntervalSeconds", 10));
        var quiet = TimeSpan.FromSeconds(configuration.GetValue("Execution:ReconcileAfterSeconds", 10));
        // The first pass, at start, looks at every running execution: what a crash of this process lost (an event
        // taken off an in-memory bus, say) is found at once rather than after the quiet period.
        var pass = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(pass, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Reconciliation failed; trying again in {Interval}", interval);
            }

            pass = quiet;
            await Task.Delay(interval, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Three round trips whatever the number of executions: the stale ones, their histories, their jobs.</summary>
    private async Task ReconcileAsync(TimeSpan quiet, CancellationToken cancellationToken)
    {
        var active = new List<(Guid ExecutionId, JobOfStep Job)>();
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            var stale = await store.StaleRunningAsync(connection, quiet, limit: 500);
            if (stale.Count == 0)
            {
                return;
            }

            foreach (var (executionId, history) in await store.LoadHistoriesAsync(connection, stale))
            {
                foreach (var step in HistoryCodec.Fold(history).Steps)
                {
                    if (step.IsActive)
                    {
                        active.Add((executionId, new JobOfStep(ExecutionEngine.JobId(executionId, step.Name, step.Attempt), step.Name, step.Attempt)));
                    }

                    if (step.Compensation == CompensationStatus.Running)
                    {
                        active.Add((executionId, new JobOfStep(ExecutionEngine.CompensationJobId(executionId, step.Name, step.Attempt), step.Name, step.Attempt)));
                    }
                }
            }
        }

        if (active.Count == 0)
        {
            return;
        }

        var executionOfJob = active.ToDictionary(a => a.Job.JobId, a => a.ExecutionId);
        foreach (var result in await jobQueue.GetEndedJobsAsync(active.Select(a => a.Job).ToList(), cancellationToken))
        {
            await ApplyAsync(executionOfJob[result.JobId], result, cancellationToken);
        }
    }

    private async Task ApplyAsync(Guid executionId, JobResult result, CancellationToken cancellationToken)
    {
        logger.LogWarning("Execution {ExecutionId}: step {Step} ended on its runner without its event arriving; applying it now",
            executionId, result.Step);
        await engine.ApplyAsync(executionId, JobResults.Finished(executionId, result),
            DeterministicGuid.Create(result.JobId.ToString(), result.JobAttempt.ToString(System.Globalization.CultureInfo.InvariantCulture), "reconciled"),
            nameof(Reconciler), cancellationToken);
    }
}
