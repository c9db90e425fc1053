using System.Globalization;
using Platform.Benchmarks;

// Usage: platform-benchmarks [runs] [executions]              (see tests/Benchmarks/run.sh): everything
//        platform-benchmarks queue [jobs] [connections]      (the job queue alone)
//        platform-benchmarks webhooks [count] [concurrency]   (the webhook ingress alone)
//        platform-benchmarks steps [runs] [executions] [warm-up] (step overhead and execution throughput alone)
if (args is ["queue", ..])
{
    var jobs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5000;
    var connections = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
    await QueueBenchmark.RunAsync(dispatchJobs: 500, throughputJobs: jobs, connections: connections);
    return;
}

if (args is ["webhooks", ..])
{
    var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20_000;
    // 16 senders: issue #5's target is measured there (with 32 the filtered phase's p99 is over; see the README).
    var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
    await WebhookBenchmark.RunAsync(count, concurrency, sequential: 100);
    return;
}

if (args is ["steps", ..])
{
    await StepOverheadBenchmark.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20,
        args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : StepOverheadBenchmark.DefaultWarmUp);
    Console.WriteLine();
    await ThroughputBenchmark.RunAsync(args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 300, concurrency: 16, runnerCapacity: 8);
    return;
}

var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
var executions = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
await StepOverheadBenchmark.RunAsync(runs, StepOverheadBenchmark.DefaultWarmUp);
Console.WriteLine();
await ThroughputBenchmark.RunAsync(executions, concurrency: 16, runnerCapacity: 8);
Console.WriteLine();
await QueueBenchmark.RunAsync(dispatchJobs: 500, throughputJobs: 5000, connections: 8);
Console.WriteLine();
await WebhookBenchmark.RunAsync(20_000, concurrency: 16, sequential: 100);
