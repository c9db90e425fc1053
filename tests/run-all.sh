#!/usr/bin/env bash
# Runs every test of the platform: starts PostgreSQL, RabbitMQ and the Docker engine locally (installing them when
# missing), then the whole suite against them. The same command runs in CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/local/services.sh --rabbitmq --docker

export PLATFORM_TEST_POSTGRES="${PLATFORM_TEST_POSTGRES:-Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}"
export DOCKER_API_VERSION="${DOCKER_API_VERSION:-1.41}"

dotnet build Platform.sln -c Release -warnaserror
# The suite that needs a Temporal server is not run here, but it is kept compiling.
dotnet build tests/Platform.Execution.Temporal.IntegrationTests -c Release -warnaserror
log=$(mktemp)
status=0
# One test project at a time (-m:1): several tests measure latencies (cancel within a second, dispatch, logs as they
# come) that a 2-core machine running every project at once cannot honour, and the whole run stays within minutes.
dotnet test Platform.sln -c Release --no-build -m:1 --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test project, in the plain form CI tools read.
count() { awk -v label="$1:" '$1 == label && $2 ~ /^[0-9]+$/ {s += $2} END {print s + 0}' "$log"; }
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
# Name the failed tests again at the end, with their messages, so a long log still shows what broke.
if grep -qE '^\s+Failed [A-Za-z]' "$log"; then
  echo "failed tests:"
  grep -A12 -E '^\s+Failed [A-Za-z]' "$log" | grep -vE '^\s+Passed ' || true
fi
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
