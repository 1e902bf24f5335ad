// Blocked attention (kernels/attention.hpp) against its unblocked twin, float
// and double: T around the block size (1, 37, 64, 65, 150), D = 7 and 32,
// bidirectional with padding and causal, a row block that sees no key;
// tolerance tol * sqrt(T + D) relative to the largest reference magnitude,
// tol = 2e-6 (float) / 1e-13 (double). Also the result with 1 and 2 threads
// is bitwise the same (the kernel runs on the calling thread; its GEMMs
// must not thread differently).

#include <catch2/catch.hpp>  // for TEMPLATE_TEST_CASE, CHECK

#include <cmath>    // for std::sqrt
#include <cstring>  // for std::memcmp
#include <vector>   // for std::vector

#ifdef _OPENMP
#include <omp.h>  // for omp_set_num_threads
#endif

#include "autodidact/kernels/attention.hpp"            // for attention_blocked_forward/backward
#include "autodidact/kernels/reference/attention.hpp"  // for the twins
#include "helpers.hpp"                                 // for random_vector, relative_error, tol

namespace kernels_attention_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace k = autodidact::kernels;
namespace ref = autodidact::kernels::reference;
using kernels_test::random_vector;
using kernels_test::relative_error;

TEMPLATE_TEST_CASE("kernels: blocked attention matches the unblocked formula", "[kernels][attention]", float,
                   double) {
  using T = TestType;
  for (int t : {1, 37, 64, 65, 150})
    for (int d : {7, 32})
      for (int variant = 0; variant < 3; ++variant) {
        k::softmax_mask mask{.valid_cols = t, .causal = false};
        if (variant == 1) mask.valid_cols = t > 3 ? t - 3 : t;      // padding
        if (variant == 2) mask.causal = true;                       // decoder
        const int ld = 3 * d + 1, ldo = d + 2;
        const auto qkv = random_vector<T>(std::size_t(t) * ld, 11u + t + d);
        const auto dout = random_vector<T>(std::size_t(t) * ldo, 12u + t);
        const T* q = qkv.data();
        const T* kk = q + d;
        const T* v = q + 2 * d;
        const T scale = T(1) / std::sqrt(T(d));
        std::vector<T> o(std::size_t(t) * ldo, T(0)), o_ref = o, lse(t), lse_ref(t);
        k::attention_blocked_forward(t, d, scale, q, kk, v, ld, o.data(), ldo, lse.data(), mask);
        ref::attention_blocked_forward(t, d, scale, q, kk, v, ld, o_ref.data(), ldo, lse_ref.data(), mask);
        const double bound = kernels_test::tol<T>(2e-6, 1e-13) * std::sqrt(double(t + d));
        INFO("t=" << t << " d=" << d << " variant=" << variant);
        CHECK(relative_error(o, o_ref) <= bound);
        CHECK(relative_error(lse, lse_ref) <= bound);
        const int ldd = ld;
        std::vector<T> dq(std::size_t(t) * ldd, T(7)), dk = dq, dv = dq, dq_r = dq, dk_r = dq, dv_r = dq;
        k::attention_blocked_backward(t, d, scale, q, kk, v, ld, o.data(), ldo, dout.data(), lse.data(), dq.data(),
                                      dk.data(), dv.data(), ldd, mask);
        ref::attention_blocked_backward(t, d, scale, q, kk, v, ld, o_ref.data(), ldo, dout.data(), lse_ref.data(),
                                        dq_r.data(), dk_r.data(), dv_r.data(), ldd, mask);
        CHECK(relative_error(dq, dq_r) <= bound);
        CHECK(relative_error(dk, dk_r) <= bound);
        CHECK(relative_error(dv, dv_r) <= bound);
      }
}

TEST_CASE("kernels: blocked attention with no visible key gives zeros", "[kernels][attention]") {
  const int t = 70, d = 5, ld = 15;
  const auto qkv = random_vector<double>(std::size_t(t) * ld, 3u);
  std::vector<double> o(std::size_t(t) * d, 1.0), lse(t, 0.0);
  k::attention_blocked_forward(t, d, 0.5, qkv.data(), qkv.data() + d, qkv.data() + 2 * d, ld, o.data(), d, lse.data(),
                               k::softmax_mask{.valid_cols = 0});
  bool zero = true;
  for (double x : o) zero = zero && x == 0.0;
  CHECK(zero);
  CHECK(std::isinf(lse[0]));
}

TEMPLATE_TEST_CASE("kernels: blocked attention is the same on 1 and 2 threads", "[kernels][attention][threads]",
                   float, double) {
  using T = TestType;
  const int t = 130, d = 32, ld = 3 * d, heads = 4;
  const auto qkv = random_vector<T>(std::size_t(heads) * t * ld, 5u);
  const auto dout = random_vector<T>(std::size_t(heads) * t * d, 6u);
  auto run = [&](int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    std::vector<T> o(std::size_t(heads) * t * d), lse(std::size_t(heads) * t), g(std::size_t(heads) * t * ld);
    const k::softmax_mask mask{.valid_cols = t, .causal = true};
#pragma omp parallel for schedule(static)
    for (int h = 0; h < heads; ++h) {
      const T* q = qkv.data() + std::size_t(h) * t * ld;
      k::attention_blocked_forward(t, d, T(0.2), q, q + d, q + 2 * d, ld, o.data() + std::size_t(h) * t * d, d,
                                   lse.data() + std::size_t(h) * t, mask);
      T* gq = g.data() + std::size_t(h) * t * ld;
      k::attention_blocked_backward(t, d, T(0.2), q, q + d, q + 2 * d, ld, o.data() + std::size_t(h) * t * d, d,
                                    dout.data() + std::size_t(h) * t * d, lse.data() + std::size_t(h) * t, gq,
                                    gq + d, gq + 2 * d, ld, mask);
    }
    o.insert(o.end(), g.begin(), g.end());
    return o;
  };
  const auto one = run(1), two = run(2);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(T)) == 0);
}

}  // namespace kernels_attention_tests
