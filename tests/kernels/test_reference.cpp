// The reference twins themselves, against hand-computed small cases and
// central finite differences in double (step 1e-6; tolerance 1e-7 absolute
// on gradients of order 1), so the twins are shown right, not just trusted.

#include <catch2/catch.hpp>  // for TEST_CASE, CHECK, Approx

#include <cmath>    // for std::exp, std::log, std::sqrt, std::erf, std::tanh
#include <cstdint>  // for std::int32_t
#include <functional>  // for std::function
#include <vector>   // for std::vector

#include "autodidact/kernels/reference/adamw.hpp"          // for reference::adamw_update, global_norm
#include "autodidact/kernels/reference/cross_entropy.hpp"  // for reference::cross_entropy_*
#include "autodidact/kernels/reference/embedding.hpp"      // for reference::embedding_*
#include "autodidact/kernels/reference/gelu.hpp"           // for reference::gelu_*
#include "autodidact/kernels/reference/gemm.hpp"           // for reference::gemm, bias_backward
#include "autodidact/kernels/reference/layernorm.hpp"      // for reference::layernorm_*
#include "autodidact/kernels/reference/softmax.hpp"        // for reference::softmax_*
#include "helpers.hpp"                                     // for random_vector

namespace kernels_reference_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace k = autodidact::kernels;
namespace ref = autodidact::kernels::reference;
using k::transpose;
using k::write_mode;
using kernels_test::random_vector;

namespace {

// Central difference of f with respect to x[i].
double central_difference(std::vector<double>& x, std::size_t i, const std::function<double()>& f) {
  const double h = 1e-6, x0 = x[i];
  x[i] = x0 + h;
  const double fp = f();
  x[i] = x0 - h;
  const double fm = f();
  x[i] = x0;
  return (fp - fm) / (2 * h);
}

}  // namespace

TEST_CASE("kernels reference: gemm by hand, every transpose case", "[kernels][reference]") {
  // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[2,-1]] (3x2): A B = [[7,-1],[16,-1]].
  const std::vector<double> a = {1, 2, 3, 4, 5, 6}, at = {1, 4, 2, 5, 3, 6};
  const std::vector<double> b = {1, 0, 0, 1, 2, -1}, bt = {1, 0, 2, 0, 1, -1};
  const std::vector<double> want = {7, -1, 16, -1};
  for (transpose ta : {transpose::no, transpose::yes})
    for (transpose tb : {transpose::no, transpose::yes}) {
      std::vector<double> c(4, 99);
      ref::gemm(ta, tb, 2, 2, 3, 1.0, ta == transpose::no ? a.data() : at.data(), ta == transpose::no ? 3 : 2,
                tb == transpose::no ? b.data() : bt.data(), tb == transpose::no ? 2 : 3, write_mode::overwrite,
                c.data(), 2);
      CHECK(c == want);
      ref::gemm(ta, tb, 2, 2, 3, 0.5, ta == transpose::no ? a.data() : at.data(), ta == transpose::no ? 3 : 2,
                tb == transpose::no ? b.data() : bt.data(), tb == transpose::no ? 2 : 3, write_mode::accumulate,
                c.data(), 2);
      CHECK(c == std::vector<double>{10.5, -1.5, 24, -1.5});
    }
  // Epilogue: bias, pre_activation, gelu, residual.
  std::vector<double> c(4), pre(4);
  const std::vector<double> bias = {1, 2}, res = {10, 20, 30, 40};
  k::gemm_epilogue<double> ep{bias.data(), k::activation::gelu_erf, pre.data(), res.data(), 2};
  ref::gemm(transpose::no, transpose::no, 2, 2, 3, 1.0, a.data(), 3, b.data(), 2, write_mode::overwrite, c.data(), 2, ep);
  CHECK(pre == std::vector<double>{8, 1, 17, 1});
  const double g1 = 0.5 * (1 + std::erf(1 / std::sqrt(2.0)));
  CHECK(c[1] == Approx(20 + g1).epsilon(1e-15));
  CHECK(c[0] == Approx(10 + 8 * 0.5 * (1 + std::erf(8 / std::sqrt(2.0)))).epsilon(1e-15));
  std::vector<double> db = {1, 1};
  ref::bias_backward(2, 2, res.data(), 2, db.data());
  CHECK(db == std::vector<double>{41, 61});
}

TEST_CASE("kernels reference: softmax by hand and by finite differences", "[kernels][reference]") {
  // x = [0, ln 2, ln 5, 7] with the last key padded: y = [1/8, 2/8, 5/8, 0].
  std::vector<double> x = {0, std::log(2.0), std::log(5.0), 7}, y(4);
  ref::softmax_forward(1, 4, 1.0, x.data(), 4, y.data(), 4, k::softmax_mask{3, false, 0});
  CHECK(y[0] == Approx(0.125));
  CHECK(y[1] == Approx(0.25));
  CHECK(y[2] == Approx(0.625));
  CHECK(y[3] == 0.0);
  // Causal with row_offset 1: row 0 sees keys 0..1, row 1 sees 0..2; a fully
  // masked row (valid_cols 0) is zeros.
  std::vector<double> x2(6, 0.0), y2(6);
  ref::softmax_forward(2, 3, 1.0, x2.data(), 3, y2.data(), 3, k::softmax_mask{3, true, 1});
  CHECK(y2 == std::vector<double>{0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  ref::softmax_forward(2, 3, 1.0, x2.data(), 3, y2.data(), 3, k::softmax_mask{0, false, 0});
  CHECK(y2 == std::vector<double>(6, 0.0));

  // Backward vs central differences of L = sum_j w_j y_j.
  const int rows = 3, cols = 7;
  const double scale = 0.8;
  const k::softmax_mask mask{6, true, 2};
  auto xs = random_vector<double>(rows * cols, 3u, -2, 2);
  const auto w = random_vector<double>(rows * cols, 4u);
  auto loss = [&] {
    std::vector<double> yy(rows * cols);
    ref::softmax_forward(rows, cols, scale, xs.data(), cols, yy.data(), cols, mask);
    double l = 0;
    for (int i = 0; i < rows * cols; ++i) l += w[i] * yy[i];
    return l;
  };
  std::vector<double> yy(rows * cols), dx(rows * cols);
  ref::softmax_forward(rows, cols, scale, xs.data(), cols, yy.data(), cols, mask);
  ref::softmax_backward(rows, cols, scale, yy.data(), cols, w.data(), cols, dx.data(), cols, mask);
  for (int i = 0; i < rows * cols; ++i) CHECK(dx[i] == Approx(central_difference(xs, i, loss)).margin(1e-7));
}

TEST_CASE("kernels reference: layernorm by hand and by finite differences", "[kernels][reference]") {
  // x = [1, 3]: mean 2, biased variance 1, xhat = [-1, 1].
  std::vector<double> x = {1, 3}, g = {2, 3}, b = {0.5, -0.5}, y(2), mu(1), rs(1);
  ref::layernorm_forward(1, 2, x.data(), g.data(), b.data(), 1e-12, y.data(), mu.data(), rs.data());
  CHECK(mu[0] == 2.0);
  CHECK(rs[0] == Approx(1.0).epsilon(1e-11));
  CHECK(y[0] == Approx(-1.5));
  CHECK(y[1] == Approx(2.5));

  const int rows = 3, c = 9;
  auto xs = random_vector<double>(rows * c, 5u, -2, 2);
  auto gamma = random_vector<double>(c, 6u, 0.5, 1.5);
  auto beta = random_vector<double>(c, 7u);
  const auto w = random_vector<double>(rows * c, 8u);
  auto loss = [&] {
    std::vector<double> yy(rows * c), m(rows), r(rows);
    ref::layernorm_forward(rows, c, xs.data(), gamma.data(), beta.data(), 1e-5, yy.data(), m.data(), r.data());
    double l = 0;
    for (int i = 0; i < rows * c; ++i) l += w[i] * yy[i];
    return l;
  };
  std::vector<double> yy(rows * c), m(rows), r(rows);
  ref::layernorm_forward(rows, c, xs.data(), gamma.data(), beta.data(), 1e-5, yy.data(), m.data(), r.data());
  std::vector<double> dx(rows * c, 0.25), dg(c, 0.5), dbeta(c, -1);  // accumulate onto these
  ref::layernorm_backward(rows, c, w.data(), xs.data(), gamma.data(), m.data(), r.data(), dx.data(), dg.data(), dbeta.data());
  for (int i = 0; i < rows * c; ++i) CHECK(dx[i] - 0.25 == Approx(central_difference(xs, i, loss)).margin(1e-7));
  for (int j = 0; j < c; ++j) {
    CHECK(dg[j] - 0.5 == Approx(central_difference(gamma, j, loss)).margin(1e-7));
    CHECK(dbeta[j] + 1 == Approx(central_difference(beta, j, loss)).margin(1e-7));
  }
}

TEST_CASE("kernels reference: gelu by hand and by finite differences", "[kernels][reference]") {
  using autodidact::gelu_kind;
  std::vector<double> x = {0.0, 1.0, -1.0}, y(3);
  ref::gelu_forward(gelu_kind::erf, 3, x.data(), y.data());
  CHECK(y[0] == 0.0);
  CHECK(y[1] == Approx(0.8413447460685429).epsilon(1e-14));   // Phi(1)
  CHECK(y[2] == Approx(-0.15865525393145707).epsilon(1e-14));  // -Phi(-1)
  ref::gelu_forward(gelu_kind::tanh, 3, x.data(), y.data());
  CHECK(y[1] == Approx(0.8411919906082768).epsilon(1e-14));  // GPT-2's gelu_new(1)
  for (auto kind : {gelu_kind::erf, gelu_kind::tanh}) {
    auto xs = random_vector<double>(17, 9u, -4, 4);
    std::vector<double> ones(17, 1.0), dx(17, 2.0);
    ref::gelu_backward(kind, 17, xs.data(), ones.data(), dx.data(), write_mode::accumulate);
    for (int i = 0; i < 17; ++i) {
      auto f = [&] {
        double out;
        ref::gelu_forward(kind, 1, &xs[i], &out);
        return out;
      };
      CHECK(dx[i] - 2.0 == Approx(central_difference(xs, i, f)).margin(1e-8));
    }
  }
}

TEST_CASE("kernels reference: cross-entropy by hand and by finite differences", "[kernels][reference]") {
  // Uniform logits over V = 4: loss = ln 4.
  std::vector<double> x = {3, 3, 3, 3, 0, 0, 0, 0}, loss(2);
  std::vector<std::int32_t> t = {2, -100};
  CHECK(ref::cross_entropy_forward(2, 4, x.data(), 4, t.data(), loss.data()) == 1);
  CHECK(loss[0] == Approx(std::log(4.0)));
  CHECK(loss[1] == 0.0);
  std::vector<double> d(8, 5);
  ref::cross_entropy_backward(2, 4, x.data(), 4, t.data(), 1.0, d.data(), 4);
  CHECK(d == std::vector<double>{0.25, 0.25, -0.75, 0.25, 0, 0, 0, 0});

  const int rows = 4, v = 9;
  auto xs = random_vector<double>(rows * v, 10u, -3, 3);
  std::vector<std::int32_t> tt = {3, -100, 0, 8};
  const double scale = 1.0 / 3;
  auto mean_loss = [&] {
    std::vector<double> l(rows);
    ref::cross_entropy_forward(rows, v, xs.data(), v, tt.data(), l.data());
    double s = 0;
    for (double e : l) s += e;
    return s * scale;
  };
  std::vector<double> dx(rows * v);
  ref::cross_entropy_backward(rows, v, xs.data(), v, tt.data(), scale, dx.data(), v);
  for (int i = 0; i < rows * v; ++i) CHECK(dx[i] == Approx(central_difference(xs, i, mean_loss)).margin(1e-8));
}

TEST_CASE("kernels reference: embedding and adamw by hand", "[kernels][reference]") {
  const std::vector<double> table = {1, 2, 3, 4, 5, 6};  // 3 rows x 2
  const std::vector<std::int32_t> ids = {2, 0, 2};
  std::vector<double> out(6, 1);
  ref::embedding_forward(3, 2, ids.data(), table.data(), 3, out.data(), write_mode::accumulate);
  CHECK(out == std::vector<double>{6, 7, 2, 3, 6, 7});
  std::vector<double> dt(6, 0);
  ref::embedding_backward(3, 2, ids.data(), out.data(), 3, dt.data());
  CHECK(dt == std::vector<double>{2, 3, 0, 0, 12, 14});

  // First AdamW step from zero moments: m_hat = g, v_hat = g^2, so
  // p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
  k::adamw_options o;
  o.lr = 0.1;
  o.weight_decay = 0.01;
  o.eps = 1e-8;
  std::vector<double> p = {1.0, -2.0}, g = {0.5, -0.25}, m(2, 0), v(2, 0);
  ref::adamw_update(2, p.data(), g.data(), m.data(), v.data(), o, 1);
  CHECK(p[0] == Approx(1.0 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(p[1] == Approx(-2.0 * (1 - 0.001) + 0.1 * 0.25 / (0.25 + 1e-8)).epsilon(1e-14));
  CHECK(m[0] == Approx(0.05));
  CHECK(v[1] == Approx(0.001 * 0.0625));
  // Second step: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, corrections 1 - 0.9^2, 1 - 0.999^2.
  const double p0 = p[0], m1 = 0.9 * m[0] + 0.1 * 0.5, v1 = 0.999 * v[0] + 0.001 * 0.25;
  ref::adamw_update(2, p.data(), g.data(), m.data(), v.data(), o, 2);
  const double want = p0 * (1 - 0.001) - 0.1 / (1 - 0.81) * m1 / (std::sqrt(v1) / std::sqrt(1 - 0.998001) + 1e-8);
  CHECK(p[0] == Approx(want).epsilon(1e-13));
  const std::vector<double> z = {3, 4};
  CHECK(ref::global_norm(2, z.data()) == 5.0);
}

}  // namespace kernels_reference_tests
