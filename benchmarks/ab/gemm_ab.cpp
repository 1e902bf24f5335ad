// In-process A/B of the GEMM: the working tree's kernels (namespace
// autodidact) against an older commit's (namespace autodidact_old, a copy
// made by tools/ab_inprocess.sh), on the products of one Transformer layer
// of width C over 1024 tokens (forward, dX, dW) and three attention
// products (T = 128, D = 64). The two sides take turns call by call, so a
// shared host's drift (other tenants, clock changes) hits both alike; the
// figure is the median of the paired ratios new/old. Also checks that both
// sides give the same bits.
//   built and run by: bash tools/ab_inprocess.sh OLD [C]
#include <autodidact/kernels/gemm.hpp>
#include <autodidact_old/kernels/gemm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

namespace nk = autodidact::kernels;
namespace ok = autodidact_old::kernels;

struct shape {
  const char* name;
  bool ta, tb;
  int m, n, k;
  bool accumulate;
};

template <class F>
double seconds(F f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int c = argc > 1 ? std::atoi(argv[1]) : 256, f = 4 * c, t = 1024;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 30;
  const shape shapes[] = {
      {"fwd qkv", false, true, t, 3 * c, c, false}, {"fwd o", false, true, t, c, c, false},
      {"fwd ff1", false, true, t, f, c, false},     {"fwd ff2", false, true, t, c, f, false},
      {"dX qkv", false, false, t, c, 3 * c, true},  {"dX o", false, false, t, c, c, true},
      {"dX ff1", false, false, t, c, f, true},      {"dX ff2", false, false, t, f, c, true},
      {"dW qkv", true, false, 3 * c, c, t, true},   {"dW o", true, false, c, c, t, true},
      {"dW ff1", true, false, f, c, t, true},       {"dW ff2", true, false, c, f, t, true},
      {"att QK^T", false, true, 128, 128, 64, false}, {"att PV", false, false, 128, 64, 128, false},
      {"att dK", true, false, 128, 64, 128, true},
  };
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  double layer_old = 0, layer_new = 0;
  bool all_same = true;
  std::printf("# C=%d, 1024 tokens, %d rounds; ms are medians, ratio = new/old paired (median [q1..q3])\n", c, rounds);
  for (const shape& s : shapes) {
    const int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    std::vector<float> a(std::size_t(s.m) * s.k), b(std::size_t(s.k) * s.n), c_old(std::size_t(s.m) * s.n),
        c_new(c_old.size());
    for (float& x : a) x = normal(gen);
    for (float& x : b) x = normal(gen);
    const double flop = 2.0 * s.m * s.n * s.k;
    const int reps = std::max(1, int(2e8 / flop));  // about 2 ms of work per timing
    std::vector<double> t_old, t_new, ratio;
    for (int r = 0; r < rounds; ++r) {
      const double o = seconds([&] {
        for (int i = 0; i < reps; ++i)
          ok::gemm(s.ta ? ok::transpose::yes : ok::transpose::no, s.tb ? ok::transpose::yes : ok::transpose::no,
                   s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb,
                   s.accumulate ? ok::write_mode::accumulate : ok::write_mode::overwrite, c_old.data(), s.n);
      }) / reps;
      const double n = seconds([&] {
        for (int i = 0; i < reps; ++i)
          nk::gemm(s.ta ? nk::transpose::yes : nk::transpose::no, s.tb ? nk::transpose::yes : nk::transpose::no,
                   s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb,
                   s.accumulate ? nk::write_mode::accumulate : nk::write_mode::overwrite, c_new.data(), s.n);
      }) / reps;
      t_old.push_back(o);
      t_new.push_back(n);
      ratio.push_back(n / o);
    }
    const bool same = std::memcmp(c_old.data(), c_new.data(), c_old.size() * sizeof(float)) == 0;
    all_same = all_same && same;
    std::sort(t_old.begin(), t_old.end());
    std::sort(t_new.begin(), t_new.end());
    std::sort(ratio.begin(), ratio.end());
    const std::size_t h = ratio.size() / 2, q1 = ratio.size() / 4, q3 = 3 * ratio.size() / 4;
    std::printf("%-9s M %5d N %5d K %5d  old %7.3f ms %6.1f GFLOP/s  new %7.3f ms %6.1f GFLOP/s  ratio %.3f [%.3f..%.3f] %s\n",
                s.name, s.m, s.n, s.k, t_old[h] * 1e3, flop / t_old[h] / 1e9, t_new[h] * 1e3, flop / t_new[h] / 1e9,
                ratio[h], ratio[q1], ratio[q3], same ? "same bits" : "DIFFERENT BITS");
    if (std::string(s.name).rfind("att", 0) != 0) {
      layer_old += t_old[h];
      layer_new += t_new[h];
    }
  }
  std::printf("gemm_ab: layer linears old %.3f ms new %.3f ms ratio %.3f bits %s\n", layer_old * 1e3, layer_new * 1e3,
              layer_new / layer_old, all_same ? "same" : "different");
  return 0;
}
