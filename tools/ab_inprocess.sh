#!/usr/bin/env bash
# In-process A/B for kernel work on a shared, noisy host: the working
# tree's library against commit OLD's, both linked into one program (OLD's
# headers copied with the namespace renamed to autodidact_old), taking turns
# call by call, so drift that moves wall times by 10-30 % between runs
# (other tenants, clock changes) hits both sides alike. Prints the median
# paired ratio new/old per GEMM shape of one layer (benchmarks/ab/gemm_ab.cpp),
# for the packing of a transposed B (benchmarks/ab/pack_ab.cpp)
# and per whole MLM training step (benchmarks/ab/step_ab.cpp), and whether
# both sides give the same bits. One thread.
#   bash tools/ab_inprocess.sh OLD [C]      C: layer width of the GEMM shapes (256)
# Env: ROUNDS (default 30), CASES (step cases, default "mlm_small"),
# MARCH (the -march both sides are built with, default native; haswell
# measures the AVX2 path on an AVX-512 host), GEMM=0 (skip the GEMM shapes).
# Limit: a macro both trees define differently is a redefinition error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ $# -ge 1 ] || { echo "usage: bash tools/ab_inprocess.sh OLD [C]" >&2; exit 2; }
old="$1"
width="${2:-256}"
rounds="${ROUNDS:-30}"
cases="${CASES:-mlm_small}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/old"
git archive "$old" include | tar -x -C "$work/old"
mv "$work/old/include/autodidact" "$work/old/include/autodidact_old"
grep -rl "autodidact" "$work/old/include/autodidact_old" | xargs sed -i -E \
  's#"autodidact/#"autodidact_old/#g; s#\bnamespace autodidact\b#namespace autodidact_old#g; s#\bautodidact::#autodidact_old::#g'
flags=(-std=c++20 -O3 -march="${MARCH:-native}" -fopenmp -DNDEBUG -I"$root/include" -I"$work/old/include")
g++ "${flags[@]}" benchmarks/ab/gemm_ab.cpp -o "$work/gemm_ab"
g++ "${flags[@]}" benchmarks/ab/pack_ab.cpp -o "$work/pack_ab"
g++ "${flags[@]}" benchmarks/ab/step_ab.cpp -o "$work/step_ab" -lutf8proc
echo "# ab_inprocess: old = $old ($(git rev-parse --short "$old")), new = working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- include || echo ', modified')), -march=${MARCH:-native}"
if [ "${GEMM:-1}" != 0 ]; then
  OMP_NUM_THREADS=1 "$work/gemm_ab" "$width" "$rounds"
  OMP_NUM_THREADS=1 "$work/pack_ab" "$width" "$rounds"
fi
for c in $cases; do OMP_NUM_THREADS=1 "$work/step_ab" "$c" "$rounds"; done
