// Prints one core's fp32 FMA ceiling in GFLOP/s (a bare number), measured
// now. benchmarks/compare/models and training call it at the start of a run
// so pct_peak= is against the CPU at hand (benchmarks/compare/peer_setup.sh).
#include "fma_ceiling.hpp"

#include <cstdio>  // for std::printf

int main() {
  std::printf("%.1f\n", compare::fma_ceiling_gflops());
  return 0;
}
