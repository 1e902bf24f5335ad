#!/usr/bin/env bash
# Writes the bit-exact snapshot that tests/models/test_snapshot.cpp
# (models_snapshot) compares against, for this CPU's SIMD architecture and
# the compiler's target for it (-march=native),
# from the code of a given commit: the baseline of a refactoring that must
# change no number. Other architectures round differently, so a session on
# a new kind of CPU runs this once from the baseline before refactoring.
#   bash tools/snapshot.sh [COMMIT]     default: the commit that last changed
#                                       tests/models/test_snapshot.cpp
# Output: tests/golden/snapshots/models_<arch>_<target>.safetensors in this
# checkout (a commit older than the target in the name writes
# models_<arch>.safetensors; the script appends the target).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
commit="${1:-$(git log -n 1 --format=%H -- tests/models/test_snapshot.cpp)}"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash tools/setup.sh
git worktree add --detach "$work/src" "$commit" >/dev/null
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DAUTODIDACT_BUILD_BENCHMARKS=OFF -DAUTODIDACT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/build" -j "$(nproc)" --target models_snapshot >/dev/null
mkdir -p tests/golden/snapshots "$work/out"
AUTODIDACT_SNAPSHOT_WRITE="$work/out" "$work/build/tests/models/models_snapshot"
target="$(${CXX:-c++} -march=native -Q --help=target | awk '$1 == "-march=" {print $2; exit}')"
for f in "$work"/out/models_*.safetensors; do
  name="$(basename "$f" .safetensors)"
  case "$name" in *"_${target//[^A-Za-z0-9]/_}") ;; *) name="${name}_${target//[^A-Za-z0-9]/_}" ;; esac
  mv "$f" "tests/golden/snapshots/$name.safetensors"
  echo "wrote tests/golden/snapshots/$name.safetensors"
done
echo "snapshot of $(git rev-parse --short "$commit") written to tests/golden/snapshots/"
