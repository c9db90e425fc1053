#!/usr/bin/env bash
# Starts the whole platform on this machine: PostgreSQL (installed and started when missing), then the Standalone
# host — every context plus an embedded process runner — on REST 127.0.0.1:8080 and gRPC 127.0.0.1:8081.
# Extra arguments go to the host (e.g. --EmbeddedRunner:Capacity=8).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/services.sh
exec dotnet run -c Release --project services/Standalone/Platform.Standalone -- "$@"
