#!/usr/bin/env bash
# Long fuzzing campaigns with libFuzzer (clang), for the harnesses of
# tests/fuzz/ (docs/reliability.md records the figures).
#   bash tools/fuzz.sh [--minutes N | --runs R] [--builds plain|asan|both] [--timeout S] [--no-build] [harness...]
# For each harness (default: all) and each build it runs the harness for N
# minutes (default 10), or for R executions with --runs, under `nice -n 19`, with -rss_limit_mb=512 and
# -timeout=S (default 1: an input slower than 1 s or a process above 512 MB
# is a finding). libFuzzer's timeout is wall-clock time: on a host whose
# cores are busy a niced fuzzer can wait longer than 1 s for a core, so
# there raise --timeout and check the CPU time per input afterwards with
# the replay program (build a g++ tree, then
# `<build>/tests/fuzz/fuzz_replay build/fuzz-corpus` prints each harness's
# slowest input in CPU milliseconds). Builds: build/fuzz-plain (no sanitizer, -O2) and build/fuzz
# (ASan + UBSan, the build tools/test.sh's fuzz phase uses).
# The working corpus grows in build/fuzz-corpus/<harness>/ (seeded from
# tests/fuzz/corpus/<harness>/); crashing, slow or memory-hungry inputs go
# to build/fuzz-findings/<build>/<harness>/. One summary line per run goes
# to stdout and to build/fuzz-findings/campaigns.log:
#   <date> <harness> <build> runs=<n> seconds=<s> exec/s=<r> peak_rss_mb=<m> status=<ok|FINDING>
# --no-build runs the existing builds as they are (two campaigns side by
# side, on different harnesses, must not configure the same tree at once).
# Exit status 1 if any run had a finding. Set AUTODIDACT_JOBS to build with
# more or fewer jobs (default: nproc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10
runs=0
build=1
builds=both
timeout=1
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --builds) builds="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    -h|--help) sed -n 2,23p "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
all=(bpe_files checkpoint corpus encode hf_config safetensors tokenizer_json vocab_txt)
if [ "${#harnesses[@]}" -eq 0 ]; then harnesses=("${all[@]}"); fi
for h in "${harnesses[@]}"; do
  if [ ! -d "tests/fuzz/corpus/$h" ]; then
    echo "fuzz.sh: no harness '$h' (expected one of ${all[*]})" >&2
    exit 2
  fi
done
case "$builds" in
  plain) build_list=(plain) ;;
  asan) build_list=(asan) ;;
  both) build_list=(plain asan) ;;
  *) echo "fuzz.sh: --builds expects plain, asan or both" >&2; exit 2 ;;
esac

[ "$build" = 1 ] && bash tools/setup.sh
jobs="${AUTODIDACT_JOBS:-$(nproc)}"
common=(-G Ninja -DCMAKE_CXX_COMPILER=clang++ -DAUTODIDACT_BUILD_BENCHMARKS=OFF -DAUTODIDACT_BUILD_EXAMPLES=OFF
        -DAUTODIDACT_OPENMP=OFF)
build_dir() { [ "$1" = asan ] && echo build/fuzz || echo build/fuzz-plain; }
configure() {
  local dir
  dir="$(build_dir "$1")"
  if [ "$1" = asan ]; then
    cmake -S . -B "$dir" "${common[@]}" -DCMAKE_BUILD_TYPE=Sanitize \
      "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
      "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
  else
    cmake -S . -B "$dir" "${common[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=-O2" >/dev/null
  fi
  cmake --build "$dir" -j "$jobs" --target fuzz_harnesses
}
for b in "${build_list[@]}"; do
  if [ "$build" = 1 ]; then configure "$b"
  elif [ ! -x "$(build_dir "$b")/tests/fuzz/fuzz_${harnesses[0]}" ]; then
    echo "fuzz.sh: --no-build, but $(build_dir "$b") has no fuzz_${harnesses[0]}: run once without it" >&2
    exit 2
  fi
done

mkdir -p build/fuzz-findings
log=build/fuzz-findings/campaigns.log
status=0
for b in "${build_list[@]}"; do
  for h in "${harnesses[@]}"; do
    work="build/fuzz-corpus/$h"
    findings="build/fuzz-findings/$b/$h"
    mkdir -p "$work" "$findings"
    out="build/fuzz-findings/$b/$h.last.log"
    set +e
    if [ "$runs" -gt 0 ]; then limit=(-runs="$runs"); else limit=(-max_total_time=$((minutes * 60))); fi
    nice -n 19 "$(build_dir "$b")/tests/fuzz/fuzz_$h" "${limit[@]}" -rss_limit_mb=512 -timeout="$timeout" \
      -print_final_stats=1 -artifact_prefix="$findings/" "$work" "tests/fuzz/corpus/$h" >"$out" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$out" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$out" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
    if [ "$rc" -eq 0 ]; then result=ok; else result=FINDING; status=1; fi
    line="$(date -u +%Y-%m-%dT%H:%MZ) $h $b runs=${runs:-?} seconds=${secs:-?} exec/s=${rate:-?} peak_rss_mb=${rss:-?} timeout=${timeout}s status=$result"
    echo "$line" | tee -a "$log"
    if [ "$result" != ok ]; then
      echo "  see $out; the input is in $findings/" >&2
    fi
  done
done
exit "$status"
