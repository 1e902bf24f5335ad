# Shared by benchmarks/compare/models and benchmarks/compare/training:
# runs one case on both sides, each in its own process, and prints the
# Contracts lines. Source it; then call `compare_case <area> <case> <threads> <reps> [label] [rounds]`.
set -euo pipefail
build="${AUTODIDACT_BUILD_DIR:-build/release}"
venv_python="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}/venv/bin/python"
source benchmarks/compare/peer_setup.sh

prepare() {
  bash tools/setup.sh --python
  # Always (re)build: a stale binary would measure old code.
  if [ ! -f "$build/CMakeCache.txt" ]; then cmake --preset release >/dev/null; fi
  cmake --build "$build" -j "$(nproc)" --target bench_models >/dev/null
  # PyTorch's best thread setup (STACK.md): the OpenMP build of OpenBLAS,
  # with the core type for this CPU (peer_setup.sh); pct_peak= against the
  # ceiling measured now.
  peer_environment
  echo "# peer setup: $peer_setup (OpenBLAS core types timed per case: $(peer_coretype_candidates))"
  measure_ceiling "$build"
}

field() {  # field <name> <line>
  sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}

median_of() {  # median_of <comma-separated samples>
  tr ',' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

compare_case() {  # compare_case <area> <case> <threads> <reps> [label] [rounds]
  # Ours and the peer take turns, `rounds` times (each round a fresh process
  # per side, reps/rounds timed runs after its warm-up); the figure is the
  # median of all samples of a side. A busy minute on this shared host then
  # hits both sides instead of one.
  # Where the peer has more than one OpenBLAS core type worth trying
  # (peer_coretype_candidates, peer_setup.sh), round r runs it under
  # candidate r mod n (at least one round each) and its figure is the
  # faster candidate's median: its best setup, measured in this run.
  local area="$1" case="$2" threads="$3" reps="$4" label="${5:-$2}" rounds="${6:-1}"
  local -a candidates
  read -r -a candidates <<<"$(peer_coretype_candidates)"
  local n_cand=${#candidates[@]}
  if ((rounds < n_cand)); then rounds=$n_cand; fi
  local per_round=$(((reps + rounds - 1) / rounds))
  local ours peer ours_samples="" mem_ours=0 mem_peer=0 impls="" r
  local -A peer_samples=()
  for ((r = 0; r < rounds; ++r)); do
    local cand="${candidates[r % n_cand]}"
    peer_environment "$cand"
    ours="$(OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=passive "$build/benchmarks/models/bench_models" "$case" --threads "$threads" --reps "$per_round")"
    peer="$(env "${peer_env[@]}" OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
            "$venv_python" tools/peers/models.py "$case" --threads "$threads" --reps "$per_round" 2>/dev/null)"
    ours_samples="${ours_samples:+$ours_samples,}$(field samples_ms "$ours")"
    peer_samples[$cand]="${peer_samples[$cand]:+${peer_samples[$cand]},}$(field samples_ms "$peer")"
    mem_ours="$(awk -v a="$mem_ours" -v b="$(field peak_rss_mb "$ours")" 'BEGIN { print (b > a ? b : a) }')"
    mem_peer="$(awk -v a="$mem_peer" -v b="$(field peak_rss_mb "$peer")" 'BEGIN { print (b > a ? b : a) }')"
    case ",$impls," in *",$(field impl "$peer"),"*) ;; *) impls="${impls:+$impls,}$(field impl "$peer")" ;; esac
  done
  local o p="" g best="" m others=""
  o="$(median_of "$ours_samples")"
  for cand in "${candidates[@]}"; do
    m="$(median_of "${peer_samples[$cand]}")"
    if [ -z "$p" ] || awk -v m="$m" -v p="$p" 'BEGIN { exit !(m < p) }'; then p="$m"; best="$cand"; fi
  done
  for cand in "${candidates[@]}"; do
    [ "$cand" = "$best" ] || others="${others:+$others/}$cand:$(median_of "${peer_samples[$cand]}")"
  done
  peer_environment "$best"
  [ -z "$others" ] || peer_setup="$peer_setup,slower=$others"
  g="$(field gflop "$ours")"
  local ratio pct
  ratio="$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.3f", p / o }')"
  pct="$(awk -v g="$g" -v o="$o" -v c="$ceiling_gflops" -v t="$threads" 'BEGIN { printf "%.1f", 100 * g / (o / 1000) / (c * t) }')"
  echo "$area/$label/t$threads/pytorch ours=$o peer=$p unit=ms ratio=$ratio setup=$peer_setup,threads=$threads"
  local tokens tokens_s=""
  tokens="$(field tokens "$ours")"
  if [ -n "$tokens" ] && [ "$tokens" != 0 ]; then
    tokens_s=" tokens_s_ours=$(awk -v n="$tokens" -v o="$o" 'BEGIN { printf "%.0f", n / (o / 1000) }') tokens_s_peer=$(awk -v n="$tokens" -v p="$p" 'BEGIN { printf "%.0f", n / (p / 1000) }')"
  fi
  echo "$area/$label/t$threads/ours pct_peak=$pct gflops=$(awk -v g="$g" -v o="$o" 'BEGIN { printf "%.1f", g / (o / 1000) }') ceiling=${ceiling_gflops}x$threads$tokens_s"
  echo "$area/$label/t$threads/pytorch mem_ours=$mem_ours mem_peer=$mem_peer unit=MB impl=$impls"
}

compile_cost() {  # compile_cost <label> <case-source-define>: time and memory of one TU
  local label="$1" src="$2"
  local out
  out="$( { /usr/bin/time -f 'secs=%e maxrss_kb=%M' g++ -std=c++20 -O3 -march=native -fopenmp -DNDEBUG \
            -Iinclude -c "$src" -o /dev/null; } 2>&1 | tail -1)"
  echo "compile/$label compile_s=$(field secs "$out") compile_mb=$(awk -v k="$(field maxrss_kb "$out")" 'BEGIN { printf "%.0f", k / 1024 }')"
}
