#!/usr/bin/env bash
# Builds and runs every test (the programs CTest runs; the benchmarks are
# built by their own commands): the release build (all labels), the
# ASan + UBSan build (unit, static, golden, gradcheck, stats, badinput) and the TSan
# build (concurrency, OpenMP off), then prints how
# long each phase took. Installs what it needs first (tools/setup.sh).
#   bash tools/test.sh            everything
#   bash tools/test.sh --release  only the release build and its tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

only_release=0
for arg in "$@"; do
  case "$arg" in
    --release) only_release=1 ;;
    *) echo "test.sh: unknown argument '$arg' (expected --release)" >&2; exit 2 ;;
  esac
done

jobs="${AUTODIDACT_JOBS:-$(nproc)}"
phases=()
phase() {  # phase <name> <command...>: runs and records the duration
  local name="$1"; shift
  local start=$SECONDS
  echo "== ${name}"
  "$@"
  phases+=("$(printf '%-22s %5ds' "$name" $((SECONDS - start)))")
}
report() {
  echo
  echo "== test.sh phases"
  local p
  for p in "${phases[@]}"; do echo "  $p"; done
  echo "  total                  $((SECONDS))s"
}
trap report EXIT

phase "setup" bash tools/setup.sh
phase "release: configure" cmake --preset release >/dev/null
# autodidact_test_programs: every program CTest runs (not the benchmarks,
# which their commands in benchmarks/compare/ build).
phase "release: build" cmake --build --preset release -j "$jobs" --target autodidact_test_programs
phase "release: test" ctest --preset release -j "$jobs"
if [ "$only_release" -eq 0 ]; then
  phase "asan: configure" cmake --preset asan >/dev/null
  # Only the programs the asan test preset runs (its labels), not the examples.
  phase "asan: build" cmake --build --preset asan -j "$jobs" --target autodidact_sanitizer_test_programs
  phase "asan: test" ctest --preset asan -j "$jobs"
  # ThreadSanitizer (OpenMP off): only the concurrency tests are built.
  phase "tsan: configure" cmake --preset tsan >/dev/null
  phase "tsan: build" cmake --build --preset tsan -j "$jobs" --target concurrency_models generation_concurrency
  phase "tsan: test" ctest --preset tsan -j "$jobs"
  # libFuzzer harnesses (clang, ASan + UBSan, build/fuzz as tools/fuzz.sh
  # builds it): label fuzz replays each seed corpus and runs a bounded
  # number of executions per harness (tests/fuzz/CMakeLists.txt).
  phase "fuzz: configure" cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Sanitize \
    -DAUTODIDACT_BUILD_BENCHMARKS=OFF -DAUTODIDACT_BUILD_EXAMPLES=OFF -DAUTODIDACT_OPENMP=OFF \
    "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
  phase "fuzz: build" cmake --build build/fuzz -j "$jobs" --target fuzz_harnesses
  phase "fuzz: test" ctest --test-dir build/fuzz -L fuzz -j "$jobs" --output-on-failure
fi
