#pragma once
// One core's fp32 FMA ceiling, measured: 12 independent chains of
// simd::batch<float> (enough to cover the FMA latency on every CPU we see),
// the best of 9 samples (on a shared machine the others lost time slices).
// Every comparison divides by this figure for pct_peak=, so the percentage
// is against the CPU the run is on, not a constant.

#include <algorithm>  // for std::max_element
#include <chrono>     // for std::chrono::steady_clock
#include <cstdio>     // for std::puts
#include <vector>     // for std::vector

#include "autodidact/simd/simd.hpp"  // for simd::batch, simd::fma, simd::width

namespace compare {

inline double fma_ceiling_gflops() {
  namespace simd = autodidact::simd;
  using B = simd::batch<float>;
  using clock_type = std::chrono::steady_clock;
  constexpr int chains = 12;
  std::vector<double> samples;
  for (int rep = 0; rep < 9; ++rep) {
    B acc[chains];
    for (int i = 0; i < chains; ++i) acc[i] = B(float(i) * 1e-3f);
    const B a(0.9999999f), b(1e-7f);
    const long iters = 20000000;
    const auto t0 = clock_type::now();
    for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < chains; ++i) acc[i] = simd::fma(acc[i], a, b);
    }
    float s = 0;
    for (int i = 0; i < chains; ++i) s += simd::reduce_sum(acc[i]);
    const double sec = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (s == 1234.5f) std::puts("");  // keeps the chains alive
    samples.push_back(2.0 * chains * simd::width<float> * double(iters) / sec / 1e9);
  }
  return *std::max_element(samples.begin(), samples.end());
}

}  // namespace compare
