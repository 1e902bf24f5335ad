// softmax, layernorm, gelu, cross-entropy, embedding and the optimizer
// kernels against their reference twins, float and double, at sizes around
// the SIMD width. Tolerances (max |got - ref| / max |ref|), float / double:
//   softmax fwd 2e-6 / 1e-14 (float measured 1.07e-6 on the 1500-key row,
//   whose probabilities are ~1e-3), bwd 1e-6 / 1e-14;  layernorm fwd 2e-6 / 1e-13,
//   bwd 1e-5 / 1e-13;  gelu 2e-6 / 1e-14;  cross-entropy 2e-6 / 1e-13;
//   embedding exact;  adamw 1e-6 / 1e-14;  global_norm 1e-6 / 1e-13 relative;  scale exact.

#include <catch2/catch.hpp>  // for TEMPLATE_TEST_CASE, CHECK, REQUIRE

#include <cmath>    // for std::isfinite, std::sqrt
#include <cstdint>  // for std::int32_t
#include <limits>   // for std::numeric_limits
#include <string>   // for std::string
#include <vector>   // for std::vector

#include "autodidact/kernels/adamw.hpp"                     // for adamw_update, global_norm, scale
#include "autodidact/kernels/cross_entropy.hpp"             // for cross_entropy_*
#include "autodidact/kernels/embedding.hpp"                 // for embedding_*
#include "autodidact/kernels/gelu.hpp"                      // for gelu_*
#include "autodidact/kernels/layernorm.hpp"                 // for layernorm_*
#include "autodidact/kernels/reference/adamw.hpp"           // for the twins
#include "autodidact/kernels/reference/cross_entropy.hpp"   // for the twins
#include "autodidact/kernels/reference/embedding.hpp"       // for the twins
#include "autodidact/kernels/reference/gelu.hpp"            // for the twins
#include "autodidact/kernels/reference/layernorm.hpp"       // for the twins
#include "autodidact/kernels/reference/softmax.hpp"         // for the twins
#include "autodidact/kernels/softmax.hpp"                   // for softmax_*
#include "helpers.hpp"                                      // for random_vector, relative_error, tol

namespace kernels_ops_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace k = autodidact::kernels;
namespace ref = autodidact::kernels::reference;
using kernels_test::random_vector;
using kernels_test::relative_error;
using kernels_test::tol;

namespace {
const int sizes[] = {1, 7, 8, 9, 16, 37, 384, 1536};
}

TEMPLATE_TEST_CASE("kernels: softmax matches the reference for every mask", "[kernels][softmax]",
                   float, double) {
  using T = TestType;
  struct mask_case { const char* name; int rows, cols; k::softmax_mask mask; };
  const mask_case cases[] = {
      {"none", 9, 37, {37, false, 0}},
      {"padding", 9, 37, {20, false, 0}},
      {"padding to zero keys", 3, 9, {0, false, 0}},
      {"causal", 37, 37, {37, true, 0}},
      {"causal + padding", 37, 37, {23, true, 0}},
      {"causal + row_offset (KV cache)", 5, 40, {40, true, 35}},
      {"negative row_offset: fully masked first rows", 12, 12, {12, true, -4}},
      {"wide", 4, 1536, {1500, false, 0}},
      {"one", 1, 1, {1, false, 0}},
      {"width", 8, 8, {8, true, 0}},
  };
  unsigned seed = 1;
  for (const auto& mc : cases) {
    INFO(mc.name);
    const int ld = mc.cols + 3;
    auto x = random_vector<T>(std::size_t(mc.rows) * ld, seed++, T(-4), T(4));
    // Masked logits may hold anything: poison them.
    for (int i = 0; i < mc.rows; ++i)
      for (int j = mc.mask.limit(i, mc.cols); j < mc.cols; ++j)
        x[std::size_t(i) * ld + j] = std::numeric_limits<T>::quiet_NaN();
    const T scale = T(0.37);
    std::vector<T> y(x.size(), T(5)), yr(x.size(), T(5));
    k::softmax_forward(mc.rows, mc.cols, scale, x.data(), ld, y.data(), ld, mc.mask);
    ref::softmax_forward(mc.rows, mc.cols, scale, x.data(), ld, yr.data(), ld, mc.mask);
    // Compare the [rows, cols] block only (padding columns of x hold data).
    std::vector<T> yb, yrb;
    for (int i = 0; i < mc.rows; ++i)
      for (int j = 0; j < mc.cols; ++j) {
        yb.push_back(y[std::size_t(i) * ld + j]);
        yrb.push_back(yr[std::size_t(i) * ld + j]);
      }
    CHECK(relative_error(yb, yrb) <= tol<T>(2e-6, 1e-14));
    bool masked_zero = true, rows_sum_to_one = true;
    for (int i = 0; i < mc.rows; ++i) {
      const int lim = mc.mask.limit(i, mc.cols);
      double s = 0;
      for (int j = 0; j < mc.cols; ++j) {
        const T v = y[std::size_t(i) * ld + j];
        if (j >= lim) masked_zero = masked_zero && v == T(0);
        s += v;
      }
      rows_sum_to_one = rows_sum_to_one && (lim == 0 ? s == 0 : std::abs(s - 1) < 1e-5);
    }
    CHECK(masked_zero);
    CHECK(rows_sum_to_one);

    auto dy = random_vector<T>(x.size(), seed++);
    std::vector<T> dx(x.size(), T(9)), dxr(x.size(), T(9));
    k::softmax_backward(mc.rows, mc.cols, scale, y.data(), ld, dy.data(), ld, dx.data(), ld, mc.mask);
    ref::softmax_backward(mc.rows, mc.cols, scale, yr.data(), ld, dy.data(), ld, dxr.data(), ld, mc.mask);
    CHECK(relative_error(dx, dxr) <= tol<T>(1e-6, 1e-14));
    // In place: y over x, dx over dy.
    std::vector<T> inplace = x;
    k::softmax_forward(mc.rows, mc.cols, scale, inplace.data(), ld, inplace.data(), ld, mc.mask);
    std::vector<T> ib;
    for (int i = 0; i < mc.rows; ++i)
      for (int j = 0; j < mc.cols; ++j) ib.push_back(inplace[std::size_t(i) * ld + j]);
    CHECK(relative_error(ib, yb) == 0);
    std::vector<T> dyi = dy;
    k::softmax_backward(mc.rows, mc.cols, scale, y.data(), ld, dyi.data(), ld, dyi.data(), ld, mc.mask);
    std::vector<T> dib, dxb;
    for (int i = 0; i < mc.rows; ++i)
      for (int j = 0; j < mc.cols; ++j) {
        dib.push_back(dyi[std::size_t(i) * ld + j]);
        dxb.push_back(dx[std::size_t(i) * ld + j]);
      }
    CHECK(relative_error(dib, dxb) == 0);
  }
}

TEMPLATE_TEST_CASE("kernels: layernorm matches the reference", "[kernels][layernorm]", float, double) {
  using T = TestType;
  for (int c : sizes) {
    for (int rows : {1, 5}) {
      INFO("rows=" << rows << " C=" << c);
      const std::size_t n = std::size_t(rows) * c;
      const auto x = random_vector<T>(n, unsigned(c + rows), T(-2), T(3));
      const auto gamma = random_vector<T>(std::size_t(c), 3u, T(0.5), T(1.5));
      const auto beta = random_vector<T>(std::size_t(c), 4u);
      const T eps = T(1e-5);
      std::vector<T> y(n), yr(n), mu(rows), mur(rows), rs(rows), rsr(rows);
      k::layernorm_forward(rows, c, x.data(), gamma.data(), beta.data(), eps, y.data(), mu.data(), rs.data());
      ref::layernorm_forward(rows, c, x.data(), gamma.data(), beta.data(), eps, yr.data(), mur.data(), rsr.data());
      CHECK(relative_error(y, yr) <= tol<T>(2e-6, 1e-13));
      CHECK(relative_error(mu, mur) <= tol<T>(2e-6, 1e-13));
      CHECK(relative_error(rs, rsr) <= tol<T>(2e-6, 1e-13));
      const auto dy = random_vector<T>(n, 9u);
      auto dx = random_vector<T>(n, 10u), dxr = dx;  // accumulate into non-zero buffers
      auto dg = random_vector<T>(std::size_t(c), 11u), dgr = dg;
      auto db = random_vector<T>(std::size_t(c), 12u), dbr = db;
      k::layernorm_backward(rows, c, dy.data(), x.data(), gamma.data(), mu.data(), rs.data(), dx.data(), dg.data(), db.data());
      ref::layernorm_backward(rows, c, dy.data(), x.data(), gamma.data(), mur.data(), rsr.data(), dxr.data(), dgr.data(), dbr.data());
      CHECK(relative_error(dx, dxr) <= tol<T>(1e-5, 1e-13));
      CHECK(relative_error(dg, dgr) <= tol<T>(1e-5, 1e-13));
      CHECK(relative_error(db, dbr) <= tol<T>(1e-5, 1e-13));
    }
  }
}

TEMPLATE_TEST_CASE("kernels: gelu matches the reference", "[kernels][gelu]", float, double) {
  using T = TestType;
  for (auto kind : {autodidact::gelu_kind::erf, autodidact::gelu_kind::tanh})
    for (int n : {1, 7, 8, 9, 37, 1536, 40000}) {
      INFO("kind=" << int(kind) << " n=" << n);
      const auto x = random_vector<T>(std::size_t(n), unsigned(n), T(-6), T(6));
      std::vector<T> y(n), yr(n);
      k::gelu_forward(kind, n, x.data(), y.data());
      ref::gelu_forward(kind, n, x.data(), yr.data());
      CHECK(relative_error(y, yr) <= tol<T>(2e-6, 1e-14));
      const auto dy = random_vector<T>(std::size_t(n), 5u);
      for (auto mode : {k::write_mode::overwrite, k::write_mode::accumulate}) {
        auto dx = random_vector<T>(std::size_t(n), 6u), dxr = dx;
        k::gelu_backward(kind, n, x.data(), dy.data(), dx.data(), mode);
        ref::gelu_backward(kind, n, x.data(), dy.data(), dxr.data(), mode);
        CHECK(relative_error(dx, dxr) <= tol<T>(2e-6, 1e-14));
      }
    }
}

TEMPLATE_TEST_CASE("kernels: cross-entropy matches the reference, with ignored rows",
                   "[kernels][cross_entropy]", float, double) {
  using T = TestType;
  for (int v : {1, 7, 8, 9, 37, 1536}) {
    const int rows = 11, ld = v + 5;
    INFO("V=" << v);
    auto x = random_vector<T>(std::size_t(rows) * ld, unsigned(v), T(-8), T(8));
    x[3] = T(60);  // a large logit: the max subtraction keeps exp finite
    std::vector<std::int32_t> t(rows);
    for (int r = 0; r < rows; ++r) t[r] = (r % 4 == 1) ? -100 : (r * 7) % v;
    std::vector<T> loss(rows, T(3)), lossr(rows, T(3));
    const int count = k::cross_entropy_forward(rows, v, x.data(), ld, t.data(), loss.data());
    const int countr = ref::cross_entropy_forward(rows, v, x.data(), ld, t.data(), lossr.data());
    CHECK(count == countr);
    CHECK(count == rows - 3);
    CHECK(relative_error(loss, lossr) <= tol<T>(2e-6, 1e-13));
    for (int r = 0; r < rows; ++r)
      if (t[r] == -100) CHECK(loss[r] == T(0));
    const T scale = T(1) / T(count);
    std::vector<T> d(x.size(), T(4)), dr(x.size(), T(4));
    k::cross_entropy_backward(rows, v, x.data(), ld, t.data(), scale, d.data(), ld);
    ref::cross_entropy_backward(rows, v, x.data(), ld, t.data(), scale, dr.data(), ld);
    CHECK(relative_error(d, dr) <= tol<T>(2e-6, 1e-13));
    for (int r = 0; r < rows; ++r)
      if (t[r] == -100)
        for (int j = 0; j < v; ++j) CHECK(d[std::size_t(r) * ld + j] == T(0));
    // In place over the logits.
    std::vector<T> xi = x;
    k::cross_entropy_backward(rows, v, xi.data(), ld, t.data(), scale, xi.data(), ld);
    std::vector<T> xib, db;
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < v; ++j) {
        xib.push_back(xi[std::size_t(r) * ld + j]);
        db.push_back(d[std::size_t(r) * ld + j]);
      }
    CHECK(relative_error(xib, db) == 0);
    // A custom ignore index.
    std::vector<std::int32_t> t2(rows, 0);
    t2[0] = -1;
    CHECK(k::cross_entropy_forward(rows, v, x.data(), ld, t2.data(), loss.data(), -1) == rows - 1);
  }
}

TEMPLATE_TEST_CASE("kernels: cross-entropy names a bad target", "[kernels][cross_entropy]", float, double) {
  using T = TestType;
  std::vector<T> x(3 * 10), loss(3), d(30);
  std::vector<std::int32_t> t = {1, 10, 2};
  using E = autodidact::invalid_argument;
  CHECK_THROWS_AS(k::cross_entropy_forward(3, 10, x.data(), 10, t.data(), loss.data()), E);
  CHECK_THROWS_WITH(k::cross_entropy_forward(3, 10, x.data(), 10, t.data(), loss.data()),
                    Catch::Contains("target id 10") && Catch::Contains("row 1") && Catch::Contains("V = 10"));
  CHECK_THROWS_AS(k::cross_entropy_backward(3, 10, x.data(), 10, t.data(), T(1), d.data(), 10), E);
  t[1] = -5;
  CHECK_THROWS_WITH(ref::cross_entropy_forward(3, 10, x.data(), 10, t.data(), loss.data()),
                    Catch::Contains("target id -5"));
}

TEMPLATE_TEST_CASE("kernels: embedding matches the reference and checks ids", "[kernels][embedding]",
                   float, double) {
  using T = TestType;
  for (int c : {1, 7, 8, 9, 37, 384}) {
    const int rows = 13, n = 29;
    INFO("C=" << c);
    const auto table = random_vector<T>(std::size_t(rows) * c, unsigned(c));
    std::vector<std::int32_t> ids(n);
    for (int i = 0; i < n; ++i) ids[i] = (i * 5 + 3) % rows;  // repeated ids
    for (auto mode : {k::write_mode::overwrite, k::write_mode::accumulate}) {
      auto out = random_vector<T>(std::size_t(n) * c, 2u), outr = out;
      k::embedding_forward(n, c, ids.data(), table.data(), rows, out.data(), mode);
      ref::embedding_forward(n, c, ids.data(), table.data(), rows, outr.data(), mode);
      CHECK(relative_error(out, outr) == 0);
    }
    const auto dout = random_vector<T>(std::size_t(n) * c, 3u);
    auto dt = random_vector<T>(std::size_t(rows) * c, 4u), dtr = dt;
    k::embedding_backward(n, c, ids.data(), dout.data(), rows, dt.data());
    ref::embedding_backward(n, c, ids.data(), dout.data(), rows, dtr.data());
    CHECK(relative_error(dt, dtr) == 0);  // same order of additions: bitwise equal
  }
  std::vector<T> table(4 * 3), out(2 * 3);
  std::vector<std::int32_t> bad = {0, 4};
  using E = autodidact::invalid_argument;
  CHECK_THROWS_AS(k::embedding_forward(2, 3, bad.data(), table.data(), 4, out.data(), k::write_mode::overwrite), E);
  CHECK_THROWS_WITH(k::embedding_forward(2, 3, bad.data(), table.data(), 4, out.data(), k::write_mode::overwrite),
                    Catch::Contains("id 4") && Catch::Contains("position 1") && Catch::Contains("4 rows"));
  bad[1] = -1;
  CHECK_THROWS_WITH(k::embedding_backward(2, 3, bad.data(), out.data(), 4, table.data()),
                    Catch::Contains("id -1") && Catch::Contains("position 1"));
}

TEMPLATE_TEST_CASE("kernels: adamw, global_norm and scale match the reference", "[kernels][adamw]",
                   float, double) {
  using T = TestType;
  for (int n : {1, 7, 8, 9, 37, 4096, 4097, 40000}) {
    INFO("n=" << n);
    auto p = random_vector<T>(std::size_t(n), 1u), pr = p;
    std::vector<T> m(n, T(0)), v(n, T(0)), mr = m, vr = v;
    k::adamw_options o;
    o.lr = 3e-3;
    o.weight_decay = 0.05;
    for (int step = 1; step <= 3; ++step) {
      const auto g = random_vector<T>(std::size_t(n), unsigned(100 + step));
      k::adamw_update(n, p.data(), g.data(), m.data(), v.data(), o, step);
      ref::adamw_update(n, pr.data(), g.data(), mr.data(), vr.data(), o, step);
    }
    CHECK(relative_error(p, pr) <= tol<T>(1e-6, 1e-14));
    CHECK(relative_error(m, mr) <= tol<T>(1e-6, 1e-14));
    CHECK(relative_error(v, vr) <= tol<T>(1e-6, 1e-14));
    const double nrm = k::global_norm(n, p.data()), nrmr = ref::global_norm(n, p.data());
    CHECK(std::abs(nrm - nrmr) <= tol<T>(1e-6, 1e-13) * nrmr);
    auto s = p, sr = p;
    k::scale(n, s.data(), T(0.3));
    ref::scale(n, sr.data(), T(0.3));
    CHECK(relative_error(s, sr) == 0);
  }
  std::vector<T> p(4), g(4), m(4), v(4);
  CHECK_THROWS_AS(k::adamw_update(4, p.data(), g.data(), m.data(), v.data(), k::adamw_options{}, 0),
                  autodidact::invalid_argument);
  CHECK(k::global_norm(0, p.data()) == 0.0);
}

}  // namespace kernels_ops_tests
