// Statistics of dropout (layers/dropout.hpp) over 2^20 elements per case
// (DESIGN.md: >= 10^6 draws, 5 sigma bounds), run on the library's own
// dropout_apply and dropout_backward:
//   - the dropped fraction is p within 5 sigma (binomial), overall and in
//     each of the four element classes e mod 4 (each uses its own Philox word);
//   - E[y] = x: with x = 1 everywhere the mean of y is 1 within 5 sigma, the
//     variance of one element being p / (1 - p);
//   - every output is 0 or x * (1 / (1 - p)) exactly, and backward applies
//     exactly the mask and scale of forward.
// Each statistic has a control that must fail it: the same statistic on a
// copy of the dropout logic with the decision biased by one percentage point
// (drop when u < p + 0.01) and with the keep scale 1. The copy is checked to
// equal the library bit for bit when unbiased, so it is the same procedure.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>
#include <autodidact/layers/dropout.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace layers_dropout_stats_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

namespace {

constexpr std::ptrdiff_t n = std::ptrdiff_t{1} << 20;  // 1,048,576 elements

// The test's copy of dropout_apply, with a bias on the decision threshold
// and a choice of keep scale (the controls).
void dropout_copy(const layers::dropout_site& s, std::ptrdiff_t count, float* x, float threshold_bias,
                  bool scale) {
  const float keep_scale = scale ? 1.0f / (1.0f - s.rate) : 1.0f;
  for (std::ptrdiff_t e = 0; e < count; ++e) {
    const auto u = s.rng->uniform4(s.step, static_cast<std::uint32_t>(e >> 2), s.site);
    x[e] = u[static_cast<std::size_t>(e & 3)] >= s.rate + threshold_bias ? x[e] * keep_scale : 0.0f;
  }
}

struct summary {
  double dropped_z;                // z of the number of zeros against n p
  std::array<double, 4> class_z;   // the same within each class e mod 4
  double mean_z;                   // z of mean(y) against 1 (x = 1)
};

// The statistics of y = dropout(1) at rate p.
summary summarize(const std::vector<float>& y, double p) {
  double zeros = 0, sum = 0;
  std::array<double, 4> class_zeros{};
  for (std::size_t e = 0; e < y.size(); ++e) {
    const bool z = y[e] == 0.0f;
    zeros += z;
    class_zeros[e & 3] += z;
    sum += y[e];
  }
  const double m = static_cast<double>(y.size());
  summary s{};
  s.dropped_z = (zeros - m * p) / std::sqrt(m * p * (1 - p));
  for (int c = 0; c < 4; ++c)
    s.class_z[c] = (class_zeros[c] - m / 4 * p) / std::sqrt(m / 4 * p * (1 - p));
  s.mean_z = (sum / m - 1.0) / std::sqrt(p / (1 - p) / m);
  return s;
}

bool passes(const summary& s) {
  bool ok = std::abs(s.dropped_z) < 5 && std::abs(s.mean_z) < 5;
  for (double z : s.class_z) ok = ok && std::abs(z) < 5;
  return ok;
}

}  // namespace

TEST_CASE("dropout drops a fraction p and keeps E[y] = x (5 sigma over 2^20 elements)", "[stats][dropout]") {
  const philox_rng rng(20261201, rng_stream::dropout);
  std::uint32_t site = 0;
  for (float rate : {0.1f, 0.25f, 0.5f, 0.75f}) {
    const layers::dropout_site s{&rng, 17, ++site, rate};
    const double p = rate;
    INFO("p = " << p);
    std::vector<float> y(static_cast<std::size_t>(n), 1.0f);
    layers::dropout_apply(s, n, y.data());
    const summary lib = summarize(y, p);
    INFO("dropped z = " << lib.dropped_z << ", mean z = " << lib.mean_z << ", class z = " << lib.class_z[0]
                        << " " << lib.class_z[1] << " " << lib.class_z[2] << " " << lib.class_z[3]);
    CHECK(std::abs(lib.dropped_z) < 5);
    CHECK(std::abs(lib.mean_z) < 5);
    for (double z : lib.class_z) CHECK(std::abs(z) < 5);
    CHECK(passes(lib));

    // Every output is 0 or exactly 1 / (1 - p).
    const float keep_scale = 1.0f / (1.0f - rate);
    std::ptrdiff_t other = 0;
    for (float v : y) other += v != 0.0f && v != keep_scale;
    CHECK(other == 0);

    // The copy without bias is the library's procedure, bit for bit.
    std::vector<float> copy(static_cast<std::size_t>(n), 1.0f);
    dropout_copy(s, n, copy.data(), 0.0f, true);
    CHECK(copy == y);

    // Control 1: the decision biased by one percentage point (p + 0.01).
    std::vector<float> biased(static_cast<std::size_t>(n), 1.0f);
    dropout_copy(s, n, biased.data(), 0.01f, true);
    const summary b = summarize(biased, p);
    INFO("biased: dropped z = " << b.dropped_z << ", mean z = " << b.mean_z);
    CHECK(std::abs(b.dropped_z) > 5);
    CHECK(std::abs(b.mean_z) > 5);
    for (double z : b.class_z) CHECK(std::abs(z) > 5);
    CHECK_FALSE(passes(b));

    // Control 2: the keep scale left at 1 (the mask itself is right).
    std::vector<float> unscaled(static_cast<std::size_t>(n), 1.0f);
    dropout_copy(s, n, unscaled.data(), 0.0f, false);
    const summary u = summarize(unscaled, p);
    INFO("unscaled: mean z = " << u.mean_z);
    CHECK(std::abs(u.dropped_z) < 5);
    CHECK(std::abs(u.mean_z) > 5);
    CHECK_FALSE(passes(u));
  }
}

TEST_CASE("dropout of random x: the mean of y - x is 0 within 5 sigma", "[stats][dropout]") {
  // E[y] = x element by element: sum (y - x) over 2^20 normal x, against
  // Var(y - x) = x^2 p / (1 - p); the control keeps the scale at 1.
  const philox_rng rng(4, rng_stream::dropout), values(5, rng_stream::user);
  const float rate = 0.3f;
  const double p = rate;
  const layers::dropout_site s{&rng, 2, 9, rate};
  std::vector<float> x(static_cast<std::size_t>(n));
  for (std::ptrdiff_t i = 0; i < n; ++i)
    x[static_cast<std::size_t>(i)] = static_cast<float>(values.normal2(0, static_cast<std::uint32_t>(i))[0]);
  auto z_of = [&](const std::vector<float>& y) {
    double diff = 0, var = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      diff += double(y[i]) - double(x[i]);
      var += double(x[i]) * double(x[i]) * p / (1 - p);
    }
    return diff / std::sqrt(var);
  };
  std::vector<float> y = x;
  layers::dropout_apply(s, n, y.data());
  const double z = z_of(y);
  INFO("z = " << z);
  CHECK(std::abs(z) < 5);
  // Exactness: each y is 0 or x * (1 / (1 - p)) in float.
  const float keep_scale = 1.0f / (1.0f - rate);
  std::ptrdiff_t other = 0;
  for (std::size_t i = 0; i < x.size(); ++i) other += y[i] != 0.0f && y[i] != x[i] * keep_scale;
  CHECK(other == 0);
  // Control: the scale at 1 shrinks every kept value; x > 0 weighted sums
  // show it (a symmetric x would hide a missing scale in the mean).
  std::vector<float> ax(x.size()), ay(x.size()), au(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ax[i] = std::abs(x[i]);
  ay = ax;
  layers::dropout_apply(s, n, ay.data());
  au = ax;
  dropout_copy(s, n, au.data(), 0.0f, false);
  auto z_abs = [&](const std::vector<float>& y) {
    double diff = 0, var = 0;
    for (std::size_t i = 0; i < ax.size(); ++i) {
      diff += double(y[i]) - double(ax[i]);
      var += double(ax[i]) * double(ax[i]) * p / (1 - p);
    }
    return diff / std::sqrt(var);
  };
  INFO("|x|: z = " << z_abs(ay) << ", unscaled control z = " << z_abs(au));
  CHECK(std::abs(z_abs(ay)) < 5);
  CHECK(std::abs(z_abs(au)) > 5);
}

TEST_CASE("dropout_backward applies exactly the mask and scale of forward", "[dropout]") {
  const philox_rng rng(31, rng_stream::dropout);
  for (float rate : {0.1f, 0.5f}) {
    const layers::dropout_site s{&rng, 8, 3, rate};
    const float keep_scale = 1.0f / (1.0f - rate);
    std::vector<float> mask(static_cast<std::size_t>(n), 1.0f);
    layers::dropout_apply(s, n, mask.data());  // 0 or keep_scale
    std::vector<float> dy(static_cast<std::size_t>(n));
    for (std::ptrdiff_t i = 0; i < n; ++i)
      dy[static_cast<std::size_t>(i)] = 1.0f + static_cast<float>(i % 1000) * 0.001f;  // never 0
    std::vector<float> dx = dy;
    layers::dropout_backward(s, n, dx.data());
    std::ptrdiff_t wrong = 0;
    for (std::size_t i = 0; i < dx.size(); ++i)
      wrong += dx[i] != (mask[i] == 0.0f ? 0.0f : dy[i] * keep_scale);
    CHECK(wrong == 0);
  }
  // double: the same mask; the scale computed in double.
  const layers::dropout_site s{&rng, 8, 4, 0.2f};
  std::vector<double> y(4096, 1.0), dy(4096, 2.0);
  layers::dropout_apply(s, 4096, y.data());
  layers::dropout_backward(s, 4096, dy.data());
  const double keep_scale = 1.0 / (1.0 - double(0.2f));
  std::ptrdiff_t wrong = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    wrong += !((y[i] == 0.0 && dy[i] == 0.0) || (y[i] == keep_scale && dy[i] == 2.0 * keep_scale));
  CHECK(wrong == 0);
}

TEST_CASE("dropout in pieces with offsets equals dropout in one piece", "[dropout]") {
  const philox_rng rng(12, rng_stream::dropout);
  const layers::dropout_site s{&rng, 5, 7, 0.25f};
  const std::ptrdiff_t m = 10007;
  std::vector<float> whole(static_cast<std::size_t>(m), 1.0f), pieces = whole;
  layers::dropout_apply(s, m, whole.data());
  // pieces of odd lengths, so offsets start at every word of a block
  for (std::ptrdiff_t b = 0, len = 1; b < m; b += len, len = len % 7 + 1)
    layers::dropout_apply(s, std::min(len, m - b), pieces.data() + b, b);
  CHECK(whole == pieces);
  // An inactive site (no generator, or rate 0) is the identity.
  std::vector<float> x(100, 3.0f);
  layers::dropout_apply(layers::dropout_site{nullptr, 5, 7, 0.5f}, 100, x.data());
  layers::dropout_apply(layers::dropout_site{&rng, 5, 7, 0.0f}, 100, x.data());
  CHECK(x == std::vector<float>(100, 3.0f));
}

}  // namespace layers_dropout_stats_tests
