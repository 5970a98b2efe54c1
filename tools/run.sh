#!/usr/bin/env bash
# Installs what is missing, builds sipedge, and runs it in the foreground with conf/sipedge.toml
# (data under ./data). Extra arguments go to sipedge, e.g. `bash tools/run.sh --config my.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build --target sipedge
if [ $# -eq 0 ]; then set -- --config conf/sipedge.toml; fi
exec ./build/proxy/sipedge "$@"
