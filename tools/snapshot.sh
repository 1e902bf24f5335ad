#!/usr/bin/env bash
# Writes the bit-exact snapshot that tests/models/test_snapshot.cpp
# (models_snapshot) compares against, for this CPU's SIMD architecture,
# from the code of a given commit: the baseline of a refactoring that must
# change no number. Other architectures round differently, so a session on
# a new kind of CPU runs this once from the baseline before refactoring.
#   bash tools/snapshot.sh [COMMIT]     default: the commit that last changed
#                                       tests/models/test_snapshot.cpp
# Output: tests/golden/snapshots/models_<arch>.safetensors in this checkout.
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
mkdir -p tests/golden/snapshots
AUTODIDACT_SNAPSHOT_WRITE="$root/tests/golden/snapshots" "$work/build/tests/models/models_snapshot"
echo "snapshot of $(git rev-parse --short "$commit") written to tests/golden/snapshots/"
