using System.Globalization;
using Platform.Benchmarks;

// Usage: platform-benchmarks [runs] [executions]   (see tests/Benchmarks/run.sh)
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var executions = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
await StepOverheadBenchmark.RunAsync(runs);
Console.WriteLine();
await ThroughputBenchmark.RunAsync(executions, concurrency: 16, runnerCapacity: 8);
