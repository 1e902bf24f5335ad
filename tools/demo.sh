#!/usr/bin/env bash
# The main job. Until the pretraining and transfer work lands, it builds the
# examples and runs example 01: a model declared as a type, its constexpr
# parameter count and memory plan, and an arena of seeded random weights.
#   bash tools/demo.sh           full run
#   bash tools/demo.sh --quick   a short run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "demo.sh: unknown argument '$arg' (expected --quick)" >&2; exit 2 ;;
  esac
done

bash tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${AUTODIDACT_JOBS:-$(nproc)}" --target 01_model_plan
args=()
if [ "$quick" -eq 1 ]; then args+=(--smoke); fi
./build/release/examples/01_model_plan "${args[@]}"
