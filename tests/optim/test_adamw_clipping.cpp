// optim::adamw's gradient clipping, against hand-computed values:
// step(params, grads, max_norm) computes the global norm of the gradients,
// and when it exceeds max_norm scales the gradients (in place) by
// max_norm / (norm + 1e-6) before the AdamW update; it returns the norm
// before clipping, or 0 when max_norm <= 0 (not computed).
//
// With eps = 1 the first AdamW step is not scale-invariant:
//   p' = p (1 - lr wd) - lr g / (|g| + 1)        (t = 1, m = (1-b1) g, v = (1-b2) g^2)
// so the parameters show which gradient the update used.
#include <catch2/catch.hpp>

#include <autodidact/optim/adamw.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace optim_adamw_clipping_tests {  // tests/CMakeLists.txt: one translation unit per folder

using autodidact::optim::adamw;
using autodidact::optim::adamw_options;

namespace {

// lr 0.1, weight decay 0.5 (decay factor 0.95), eps 1.
constexpr adamw_options options{.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1.0, .weight_decay = 0.5};

// The first AdamW step on one parameter, in double, from the formula above
// (the bias corrections make sqrt(v_hat) = |g| exactly).
double first_step(double p, double g) {
  return p * (1 - 0.1 * 0.5) - 0.1 * g / (std::abs(g) + 1.0);
}

}  // namespace

TEST_CASE("clipping: gradients 3, 4, 12 (norm 13) clipped to 6.5", "[optim][clip]") {
  adamw<float> opt(3, options);
  std::vector<float> p{1.0f, -2.0f, 0.5f}, g{3.0f, 4.0f, -12.0f};
  const double norm = opt.step(p, g, 6.5);
  CHECK(norm == 13.0);  // 9 + 16 + 144 = 169 is exact in float
  // The gradients are scaled in place by 6.5 / (13 + 1e-6) (in float).
  const float factor = static_cast<float>(6.5 / (13.0 + 1e-6));
  CHECK(g[0] == 3.0f * factor);
  CHECK(g[1] == 4.0f * factor);
  CHECK(g[2] == -12.0f * factor);
  CHECK(g[0] == Approx(1.5).epsilon(1e-6));
  CHECK(g[1] == Approx(2.0).epsilon(1e-6));
  CHECK(g[2] == Approx(-6.0).epsilon(1e-6));
  // The update used the clipped gradients: by hand,
  //   1 * 0.95 - 0.1 * 1.5 / 2.5 = 0.89
  //  -2 * 0.95 - 0.1 * 2 / 3     = -1.9666667
  // 0.5 * 0.95 + 0.1 * 6 / 7     = 0.5607143
  CHECK(p[0] == Approx(0.89).epsilon(1e-6));
  CHECK(p[1] == Approx(-1.9 - 0.2 / 3).epsilon(1e-6));
  CHECK(p[2] == Approx(0.475 + 0.6 / 7).epsilon(1e-6));
  // (without clipping they would be 0.875, -1.98 and 0.5673077)
  // The moments hold the clipped gradient: m = 0.1 g, v = 0.001 g^2.
  CHECK(opt.first_moment()[0] == Approx(0.15).epsilon(1e-6));
  CHECK(opt.first_moment()[2] == Approx(-0.6).epsilon(1e-6));
  CHECK(opt.second_moment()[1] == Approx(0.004).epsilon(1e-6));
  CHECK(opt.second_moment()[2] == Approx(0.036).epsilon(1e-6));
}

TEST_CASE("clipping: max_norm above the norm leaves the gradients as they are", "[optim][clip]") {
  for (double max_norm : {13.5, 100.0}) {
    adamw<float> opt(3, options);
    std::vector<float> p{1.0f, -2.0f, 0.5f}, g{3.0f, 4.0f, -12.0f};
    CHECK(opt.step(p, g, max_norm) == 13.0);
    CHECK(g == std::vector<float>{3.0f, 4.0f, -12.0f});
    //   1 * 0.95 - 0.1 * 3 / 4 = 0.875;  -2 * 0.95 - 0.1 * 4 / 5 = -1.98;  0.475 + 1.2 / 13
    CHECK(p[0] == Approx(0.875).epsilon(1e-6));
    CHECK(p[1] == Approx(-1.98).epsilon(1e-6));
    CHECK(p[2] == Approx(0.475 + 1.2 / 13).epsilon(1e-6));
  }
}

TEST_CASE("clipping: max_norm 0 (the default) or negative computes no norm and clips nothing", "[optim][clip]") {
  for (double max_norm : {0.0, -1.0}) {
    adamw<float> opt(3, options);
    std::vector<float> p{1.0f, -2.0f, 0.5f}, g{3.0f, 4.0f, -12.0f};
    CHECK(opt.step(p, g, max_norm) == 0.0);
    CHECK(g == std::vector<float>{3.0f, 4.0f, -12.0f});
    CHECK(p[0] == Approx(0.875).epsilon(1e-6));
  }
  adamw<float> opt(3, options);
  std::vector<float> p{1.0f, -2.0f, 0.5f}, g{3.0f, 4.0f, -12.0f};
  CHECK(opt.step(p, g) == 0.0);
  CHECK(g == std::vector<float>{3.0f, 4.0f, -12.0f});
}

TEST_CASE("clipping in double: a second step uses the moments of the clipped first", "[optim][clip]") {
  // Two steps, each clipped; the reference is AdamW written out in double.
  adamw<double> opt(2, options);
  std::vector<double> p{0.3, -0.7};
  double m[2] = {0, 0}, v[2] = {0, 0}, ref[2] = {0.3, -0.7};
  const double grads[2][2] = {{6.0, 8.0}, {-0.3, 0.4}};  // norms 10 and 0.5
  for (int t = 1; t <= 2; ++t) {
    std::vector<double> g{grads[t - 1][0], grads[t - 1][1]};
    const double expected_norm = t == 1 ? 10.0 : 0.5;
    CHECK(opt.step(p, g, 2.0) == Approx(expected_norm).epsilon(1e-15));
    const double f = expected_norm > 2.0 ? 2.0 / (expected_norm + 1e-6) : 1.0;
    for (int i = 0; i < 2; ++i) {
      const double gc = grads[t - 1][i] * f;
      CHECK(g[static_cast<std::size_t>(i)] == Approx(gc).epsilon(1e-15));
      m[i] = 0.9 * m[i] + 0.1 * gc;
      v[i] = 0.999 * v[i] + 0.001 * gc * gc;
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      ref[i] = ref[i] * (1 - 0.1 * 0.5) - 0.1 * mh / (std::sqrt(vh) + 1.0);
      CHECK(p[static_cast<std::size_t>(i)] == Approx(ref[i]).epsilon(1e-12));
    }
  }
}

TEST_CASE("clipping: a multi-chunk vector (deterministic reduction) against a long-double norm", "[optim][clip]") {
  // More than one group of 256 chunks of 4096, and a partial last chunk.
  const std::size_t n = 1'300'001;
  std::vector<float> g(n), g0(n), p(n, 0.25f), p_unclipped(n, 0.25f);
  long double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // deterministic values of varying size and sign, all in [-1.5, 1.5]
    const std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u;
    g[i] = (static_cast<float>(h >> 8) * 0x1.0p-24f - 0.5f) * 3.0f;
    sum += static_cast<long double>(g[i]) * static_cast<long double>(g[i]);
  }
  g0 = g;
  const double ref = static_cast<double>(std::sqrt(sum));
  INFO("reference norm " << ref);
  REQUIRE(ref > 100.0);

  // Unclipped (max_norm above the norm): the norm is returned, gradients untouched.
  {
    adamw<float> opt(n, options);
    std::vector<float> gu = g0;
    const double norm = opt.step(p_unclipped, gu, 1e9);
    CHECK(norm == Approx(ref).epsilon(1e-5));
    CHECK(gu == g0);
  }
  // Clipped to 1: the same norm, and every gradient scaled by one factor.
  adamw<float> opt(n, options);
  const double norm = opt.step(p, g, 1.0);
  CHECK(norm == Approx(ref).epsilon(1e-5));
  const float factor = static_cast<float>(1.0 / (norm + 1e-6));
  std::size_t wrong_grad = 0, wrong_param = 0;
  double clipped_sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    wrong_grad += g[i] != g0[i] * factor;
    clipped_sq += double(g[i]) * double(g[i]);
    const double expect = first_step(0.25, double(g0[i]) * factor);
    wrong_param += std::abs(p[i] - expect) > 1e-6;
  }
  CHECK(wrong_grad == 0);
  CHECK(wrong_param == 0);
  CHECK(std::sqrt(clipped_sq) == Approx(1.0).epsilon(1e-5));  // the clipped norm is max_norm
  // The reduction is deterministic: the same input gives the same norm, bit for bit.
  adamw<float> again(n, options);
  std::vector<float> p2(n, 0.25f), g2 = g0;
  CHECK(again.step(p2, g2, 1.0) == norm);
}

TEST_CASE("parameter groups: no weight decay where the group says so, the same update elsewhere", "[optim]") {
  struct range {
    std::size_t begin, count;
    bool decay;
  };
  const std::vector<range> groups{{0, 2, true}, {2, 3, false}, {5, 1, true}};
  std::vector<double> p{1.0, -2.0, 0.5, 3.0, -1.5, 4.0}, g{0.3, -0.1, 0.2, -0.4, 0.25, 0.05};
  adamw<double> opt(p.size(), options);
  opt.step(std::span<double>(p), std::span<double>(g), std::span<const range>(groups));
  const std::vector<double> p0{1.0, -2.0, 0.5, 3.0, -1.5, 4.0};
  for (std::size_t i = 0; i < p.size(); ++i) {
    const bool decay = i < 2 || i == 5;
    const double expected = decay ? first_step(p0[i], g[i]) : p0[i] - 0.1 * g[i] / (std::abs(g[i]) + 1.0);
    INFO("element " << i);
    CHECK(std::abs(p[i] - expected) < 1e-15);
  }
  // Groups that leave a gap or do not reach the end are refused.
  const std::vector<range> gap{{0, 2, true}, {3, 3, false}};
  CHECK_THROWS_AS(opt.step(std::span<double>(p), std::span<double>(g), std::span<const range>(gap)),
                  autodidact::invalid_argument);
}

}  // namespace optim_adamw_clipping_tests
