// The scalar fallback of simd/ (what a machine without a SIMD architecture
// gets), forced with AUTODIDACT_SIMD_SCALAR: the kernels still match their
// twins. Same tolerances as kernels_gemm / kernels_ops.

#define AUTODIDACT_SIMD_SCALAR 1

#include <catch2/catch.hpp>  // for TEST_CASE, CHECK

#include <cstdint>  // for std::int32_t
#include <vector>   // for std::vector

#include "autodidact/kernels/kernels.hpp"                  // for every kernel
#include "autodidact/kernels/reference/adamw.hpp"          // for the twins
#include "autodidact/kernels/reference/cross_entropy.hpp"  // for the twins
#include "autodidact/kernels/reference/gemm.hpp"           // for the twins
#include "autodidact/kernels/reference/layernorm.hpp"      // for the twins
#include "autodidact/kernels/reference/softmax.hpp"        // for the twins
#include "helpers.hpp"                                     // for random_vector, relative_error

namespace k = autodidact::kernels;
namespace ref = autodidact::kernels::reference;
using kernels_test::random_vector;
using kernels_test::relative_error;

static_assert(!autodidact::simd::vectorized, "this test must see the scalar fallback");
static_assert(autodidact::simd::width<float> == 1);

TEST_CASE("kernels: the scalar fallback matches the reference", "[kernels][simd]") {
  const int m = 9, n = 13, kk = 11;
  const auto a = random_vector<float>(std::size_t(20) * 20, 1u), b = random_vector<float>(std::size_t(20) * 20, 2u);
  for (auto ta : {k::transpose::no, k::transpose::yes})
    for (auto tb : {k::transpose::no, k::transpose::yes}) {
      std::vector<float> c(std::size_t(m) * n), cr(c.size());
      k::gemm(ta, tb, m, n, kk, 1.0f, a.data(), 20, b.data(), 20, k::write_mode::overwrite, c.data(), n);
      ref::gemm(ta, tb, m, n, kk, 1.0f, a.data(), 20, b.data(), 20, k::write_mode::overwrite, cr.data(), n);
      CHECK(relative_error(c, cr) <= 1e-5);
    }
  const auto x = random_vector<double>(std::size_t(m) * n, 3u);
  std::vector<double> y(x.size()), yr(x.size());
  k::softmax_forward(m, n, 0.5, x.data(), n, y.data(), n, k::softmax_mask{10, true, 2});
  ref::softmax_forward(m, n, 0.5, x.data(), n, yr.data(), n, k::softmax_mask{10, true, 2});
  CHECK(relative_error(y, yr) <= 1e-14);
  const auto g = random_vector<double>(n, 4u), be = random_vector<double>(n, 5u);
  std::vector<double> mu(m), rs(m), mur(m), rsr(m);
  k::layernorm_forward(m, n, x.data(), g.data(), be.data(), 1e-5, y.data(), mu.data(), rs.data());
  ref::layernorm_forward(m, n, x.data(), g.data(), be.data(), 1e-5, yr.data(), mur.data(), rsr.data());
  CHECK(relative_error(y, yr) <= 1e-13);
  std::vector<std::int32_t> t(m, 3);
  std::vector<double> l(m), lr(m);
  CHECK(k::cross_entropy_forward(m, n, x.data(), n, t.data(), l.data()) ==
        ref::cross_entropy_forward(m, n, x.data(), n, t.data(), lr.data()));
  CHECK(relative_error(l, lr) <= 1e-13);
  CHECK(k::global_norm(std::ptrdiff_t(x.size()), x.data()) == Approx(ref::global_norm(std::ptrdiff_t(x.size()), x.data())));
}
