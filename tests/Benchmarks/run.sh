#!/usr/bin/env bash
# Runs the benchmarks on the Standalone host (Release build, local PostgreSQL) and prints the figures.
# Usage: tests/Benchmarks/run.sh [runs] [executions]   (everything)
#        tests/Benchmarks/run.sh queue [jobs] [connections]   (the job queue alone: dispatch latency, throughput)
#        tests/Benchmarks/run.sh webhooks [count] [concurrency]   (the webhook ingress alone)
#        tests/Benchmarks/run.sh steps [runs] [executions] [warm-up]   (step overhead and execution throughput alone)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/services.sh
export PLATFORM_TEST_POSTGRES="${PLATFORM_TEST_POSTGRES:-Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres}"
dotnet build tests/Benchmarks/Platform.Benchmarks -c Release -warnaserror -v quiet -nologo
dotnet tests/Benchmarks/Platform.Benchmarks/bin/Release/net10.0/Platform.Benchmarks.dll "$@"
