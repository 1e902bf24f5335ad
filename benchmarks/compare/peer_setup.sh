# Shared by every comparison command (source it from the repository root):
# the peers' best correct setup on the CPU at hand, and the single-core FMA
# ceiling measured in this run.
#
# OpenBLAS 0.3.21 (Debian 12) does not recognise CPUs newer than it and
# falls back to its SSE3 (Prescott) kernels; some hosts also preset
# OPENBLAS_CORETYPE to a smaller core (Haswell on an AVX-512 machine). So
# the core type is chosen here from /proc/cpuinfo, whatever the environment
# says: SkylakeX where AVX-512 exists, Haswell on AVX2, OpenBLAS's own
# detection otherwise. A peer's threads come from Debian's OpenMP build of
# OpenBLAS when installed (its pool and libgomp's then do not fight; STACK.md).
# Everything a peer ran with is printed as setup=.

peer_openblas_coretype() {
  # AUTODIDACT_PEER_CORETYPE overrides it, to hold the peer to the ISA our
  # side was built for (Haswell with an AUTODIDACT_BUILD_DIR built with
  # -march=haswell on an AVX-512 host: docs/performance.md, AVX2 runs).
  if [ -n "${AUTODIDACT_PEER_CORETYPE:-}" ]; then echo "$AUTODIDACT_PEER_CORETYPE"; return; fi
  if grep -qw avx512f /proc/cpuinfo; then echo SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then echo Haswell
  else echo ""; fi
}

peer_openmp_openblas_dir=/usr/lib/x86_64-linux-gnu/openblas-openmp

# peer_coretype_candidates: the core types worth trying on this CPU, the
# default first. With AVX-512 both SkylakeX and Haswell: which is faster
# depends on the CPU and the workload (AMD Zen 4, 2026-12-04: SkylakeX
# kernels ahead on gemm_compare's products, Haswell's 2-7 % ahead on whole
# PyTorch MLM training steps, paired runs; docs/performance.md), so
# compare_case (models_common.sh) times the peer under each and keeps the
# faster. One candidate otherwise (or the AUTODIDACT_PEER_CORETYPE override).
peer_coretype_candidates() {
  local first
  first="$(peer_openblas_coretype)"
  if [ -z "${AUTODIDACT_PEER_CORETYPE:-}" ] && [ "$first" = SkylakeX ]; then echo "SkylakeX Haswell"
  else echo "${first:-auto}"; fi
}

# peer_environment [coretype]: fills the array peer_env with the variables
# every peer runs under (OPENBLAS_CORETYPE, LD_LIBRARY_PATH), and
# peer_setup with its one-word description for setup=. The core type is
# the given one ("auto": OpenBLAS's own detection), else this CPU's default.
peer_environment() {
  local coretype
  coretype="${1:-$(peer_openblas_coretype)}"
  [ "$coretype" = auto ] && coretype=""
  peer_env=(OMP_WAIT_POLICY=passive)
  peer_setup="openblas"
  if [ -d "$peer_openmp_openblas_dir" ]; then
    peer_env+=(LD_LIBRARY_PATH="$peer_openmp_openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    peer_setup="openblas-openmp"
  fi
  if [ -n "$coretype" ]; then
    peer_env+=(OPENBLAS_CORETYPE="$coretype")
    peer_setup="$peer_setup,coretype=$coretype"
  else
    # Not set by us: make sure a preset one does not cripple the peer.
    unset OPENBLAS_CORETYPE
    peer_setup="$peer_setup,coretype=auto"
  fi
}

# measure_ceiling <build dir>: one core's fp32 FMA ceiling in GFLOP/s,
# measured now (AUTODIDACT_PEAK_GFLOPS overrides it); sets ceiling_gflops
# and prints a comment line saying where it came from.
measure_ceiling() {
  local build="$1"
  if [ -n "${AUTODIDACT_PEAK_GFLOPS:-}" ]; then
    ceiling_gflops="$AUTODIDACT_PEAK_GFLOPS"
    echo "# single-core fp32 FMA ceiling ${ceiling_gflops} GFLOP/s (AUTODIDACT_PEAK_GFLOPS)"
  else
    cmake --build "$build" -j "$(nproc)" --target fma_ceiling >/dev/null
    ceiling_gflops="$("$build/benchmarks/compare/fma_ceiling")"
    echo "# single-core fp32 FMA ceiling ${ceiling_gflops} GFLOP/s (measured in this run)"
  fi
}
