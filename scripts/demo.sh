#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the demo on a local cluster in /tmp/finshard-demo
# (FINSHARD_DEMO_DIR moves it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/finshard demo --dir "${FINSHARD_DEMO_DIR:-/tmp/finshard-demo}" "$@"
