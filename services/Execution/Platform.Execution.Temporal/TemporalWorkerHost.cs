using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Temporalio.Client;
using Temporalio.Worker;

namespace Platform.Execution.Temporal;

/// <summary>
/// Runs the executions' Temporal worker, and keeps trying when the Temporal server cannot be reached: the process
/// stays up (reads are served from the read model; a start answers Unavailable) and picks the work up once the server
/// answers. Temporal's own hosted worker stops the whole host on the first failed connection.
/// </summary>
internal sealed class TemporalWorkerHost(
    ITemporalClient client, ExecutionActivities activities, IOptions<TemporalEngineOptions> options, ILogger<TemporalWorkerHost> logger)
    : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>What the worker runs: the executions' workflow and its activities.</summary>
    internal static TemporalWorkerOptions WorkerOptions(string taskQueue, ExecutionActivities activities) =>
        new TemporalWorkerOptions(taskQueue).AddWorkflow<ExecutionWorkflow>().AddAllActivities(activities);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!client.Connection.IsConnected)
                {
                    await client.Connection.ConnectAsync();
                }

                using var worker = new TemporalWorker(client, WorkerOptions(settings.TaskQueue, activities));
                logger.LogInformation("Temporal worker polling task queue {TaskQueue} at {Address}", settings.TaskQueue, settings.Address);
                backoff = TimeSpan.FromSeconds(1);
                await worker.ExecuteAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning("Temporal at {Address} is not reachable ({Error}); trying again in {Backoff}", settings.Address, e.Message, backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }
}
