using Platform.Benchmarks;

// Usage: platform-benchmarks [runs]   (see tests/Benchmarks/run.sh)
var runs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
await StepOverheadBenchmark.RunAsync(runs);
