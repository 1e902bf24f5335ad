// In-process A/B of the GEMM's packing of a transposed B (op(B) = Wᵀ, as
// every forward product of a training step packs it): the working tree's
// gemm_pack_b (namespace autodidact) against an older commit's (namespace
// autodidact_old, copied by tools/ab_inprocess.sh), taking turns; prints the
// median paired ratio new/old with its quartiles and whether both wrote the
// same values (compared only when both sides' panels are equally wide: a
// commit with another register tile packs another layout).
//   built and run by: bash tools/ab_inprocess.sh OLD [C]   (K = C, N = 3C)
#include <autodidact/kernels/gemm.hpp>
#include <autodidact_old/kernels/gemm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  const int k = argc > 1 ? std::atoi(argv[1]) : 256, n = 3 * k;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 41;
  std::vector<float> w(std::size_t(n) * k);  // W [n, k]: op(B) = Wᵀ is k x n
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 1000) * 0.001f;
  // Room for the zero-padded last panel of either side's layout.
  std::vector<float> out_old(std::size_t(n + 64) * k), out_new(out_old.size());
  std::vector<double> ratio;
  using clock = std::chrono::steady_clock;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = clock::now();
    for (int i = 0; i < 20; ++i)
      autodidact_old::kernels::detail::gemm_pack_b(autodidact_old::kernels::transpose::yes, w.data(), k, 0, k, 0, n,
                                                   out_old.data());
    const auto t1 = clock::now();
    for (int i = 0; i < 20; ++i)
      autodidact::kernels::detail::gemm_pack_b(autodidact::kernels::transpose::yes, w.data(), k, 0, k, 0, n,
                                               out_new.data());
    const auto t2 = clock::now();
    ratio.push_back(std::chrono::duration<double>(t2 - t1).count() / std::chrono::duration<double>(t1 - t0).count());
  }
  std::sort(ratio.begin(), ratio.end());
  const std::size_t h = ratio.size() / 2, q1 = ratio.size() / 4, q3 = 3 * ratio.size() / 4;
  const int nr_old = autodidact_old::kernels::detail::gemm_blocking<float>::nr;
  const int nr_new = autodidact::kernels::detail::gemm_blocking<float>::nr;
  char verdict[96];
  if (nr_old != nr_new)
    std::snprintf(verdict, sizeof verdict, "panels %d vs %d columns wide: layouts differ, values not compared", nr_old,
                  nr_new);
  else
    std::snprintf(verdict, sizeof verdict, "%s",
                  std::memcmp(out_old.data(), out_new.data(), out_old.size() * sizeof(float)) == 0
                      ? "same values"
                      : "DIFFERENT VALUES");
  std::printf("pack_ab: transposed B, K %d x N %d: ratio %.3f [%.3f..%.3f] %s\n", k, n, ratio[h], ratio[q1], ratio[q3],
              verdict);
  return 0;
}
