// Every kernel gives bitwise identical results with 1 and 2 OpenMP threads
// (sizes above the kernels' parallel thresholds). Without OpenMP the test
// still runs the kernels twice and compares.

#include <catch2/catch.hpp>  // for TEMPLATE_TEST_CASE, CHECK

#include <cstdint>  // for std::int32_t
#include <cstring>  // for std::memcmp
#include <functional>  // for std::function
#include <vector>   // for std::vector

#ifdef _OPENMP
#include <omp.h>  // for omp_set_num_threads, omp_get_max_threads
#endif

#include "autodidact/kernels/kernels.hpp"  // for every kernel
#include "helpers.hpp"                     // for random_vector

namespace kernels_threads_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace k = autodidact::kernels;
using kernels_test::random_vector;

namespace {

void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

// Runs `run` (which fills `out` from fixed inputs) with 1 and 2 threads.
template <class T>
bool same_for_1_and_2_threads(const std::function<void(std::vector<T>&)>& run) {
  std::vector<T> one, two;
  set_threads(1);
  run(one);
  set_threads(2);
  run(two);
  return one.size() == two.size() && std::memcmp(one.data(), two.data(), one.size() * sizeof(T)) == 0;
}

}  // namespace

TEMPLATE_TEST_CASE("kernels: results do not depend on the thread count", "[kernels][threads]", float, double) {
  using T = TestType;
  // Above the GEMM's parallel threshold (2^22 multiply-adds), with odd
  // edges in both directions.
  const int m = 131, n = 211, kk = 160;
  const auto a = random_vector<T>(std::size_t(250) * 250, 1u), b = random_vector<T>(std::size_t(250) * 250, 2u);
  const auto bias = random_vector<T>(250, 3u);
  for (auto ta : {k::transpose::no, k::transpose::yes})
    for (auto tb : {k::transpose::no, k::transpose::yes}) {
      CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& c) {
        c = random_vector<T>(std::size_t(m) * n * 2, 4u);
        std::vector<T> pre(c.size());
        k::gemm_epilogue<T> ep{bias.data(), k::activation::gelu_tanh, pre.data(), nullptr, 0};
        k::gemm(ta, tb, m, n, kk, T(0.5), a.data(), 250, b.data(), 250, k::write_mode::overwrite, c.data(), n, ep);
        k::gemm(ta, tb, m, n, kk, T(0.5), a.data(), 250, b.data(), 250, k::write_mode::accumulate, c.data() + m * n, n);
        c.insert(c.end(), pre.begin(), pre.end());
      }));
    }
  const int rows = 300, cols = 391;
  const auto x = random_vector<T>(std::size_t(rows) * cols, 5u, T(-3), T(3));
  const auto dy = random_vector<T>(std::size_t(rows) * cols, 6u);
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    out = random_vector<T>(cols, 7u);
    k::bias_backward(rows, cols, dy.data(), cols, out.data());
  }));
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    out.assign(2 * x.size(), T(0));
    const k::softmax_mask mask{300, true, 50};
    k::softmax_forward(rows, cols, T(0.3), x.data(), cols, out.data(), cols, mask);
    k::softmax_backward(rows, cols, T(0.3), out.data(), cols, dy.data(), cols, out.data() + x.size(), cols, mask);
  }));
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    const auto gamma = random_vector<T>(cols, 8u), beta = random_vector<T>(cols, 9u);
    std::vector<T> y(x.size()), mu(rows), rs(rows), dx(x.size()), dg(cols), db(cols);
    k::layernorm_forward(rows, cols, x.data(), gamma.data(), beta.data(), T(1e-5), y.data(), mu.data(), rs.data());
    k::layernorm_backward(rows, cols, dy.data(), x.data(), gamma.data(), mu.data(), rs.data(), dx.data(), dg.data(), db.data());
    out = y;
    for (auto* v : {&mu, &rs, &dx, &dg, &db}) out.insert(out.end(), v->begin(), v->end());
  }));
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    out.assign(2 * x.size(), T(0));
    k::gelu_forward(autodidact::gelu_kind::erf, std::ptrdiff_t(x.size()), x.data(), out.data());
    k::gelu_backward(autodidact::gelu_kind::tanh, std::ptrdiff_t(x.size()), x.data(), dy.data(),
                     out.data() + x.size(), k::write_mode::overwrite);
  }));
  std::vector<std::int32_t> targets(rows);
  for (int r = 0; r < rows; ++r) targets[r] = r % 9 == 0 ? -100 : (r * 13) % cols;
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    out.assign(rows + x.size(), T(0));
    const int count = k::cross_entropy_forward(rows, cols, x.data(), cols, targets.data(), out.data());
    k::cross_entropy_backward(rows, cols, x.data(), cols, targets.data(), T(1) / T(count), out.data() + rows, cols);
  }));
  std::vector<std::int32_t> ids(rows);
  for (int r = 0; r < rows; ++r) ids[r] = (r * 7) % 50;  // many repeats
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    out.assign(std::size_t(50) * cols + x.size(), T(0));
    k::embedding_backward(rows, cols, ids.data(), dy.data(), 50, out.data());
    k::embedding_forward(rows, cols, ids.data(), out.data(), 50, out.data() + 50 * cols, k::write_mode::overwrite);
  }));
  CHECK(same_for_1_and_2_threads<T>([&](std::vector<T>& out) {
    const std::ptrdiff_t n = std::ptrdiff_t(x.size());
    std::vector<T> p = x, mm(x.size(), T(0)), vv(x.size(), T(0));
    for (int step = 1; step <= 2; ++step) k::adamw_update(n, p.data(), dy.data(), mm.data(), vv.data(), k::adamw_options{}, step);
    k::scale(n, p.data(), T(0.9));
    out = p;
    out.push_back(T(k::global_norm(n, dy.data())));
    out.push_back(T(k::sum_squares(n, x.data())));
  }));
#ifdef _OPENMP
  set_threads(omp_get_num_procs());
#endif
}

}  // namespace kernels_threads_tests
