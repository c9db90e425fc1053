#!/usr/bin/env bash
# Publishes the runner program as one self-contained executable for a VM (no .NET install needed there):
#   deploy/runner/publish.sh [output-dir] [runtime-id]      default: deploy/runner/out, linux-x64
# Then copy the file `platform-runner` to the VM (e.g. /usr/local/bin) with platform-runner.service, or use
# cloud-init.yaml, which does both.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-deploy/runner/out}"
rid="${2:-linux-x64}"
dotnet publish services/Runner/Platform.Runner.Host -c Release -r "$rid" --self-contained \
  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:DebugType=none -o "$out" -nologo -v quiet
# The executable needs nothing else beside it (appsettings are optional: the runner is configured by environment).
"$out/platform-runner" --help >/dev/null
echo "$out/platform-runner ($(du -h "$out/platform-runner" | cut -f1))"
