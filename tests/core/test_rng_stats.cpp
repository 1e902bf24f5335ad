// Statistical tests of philox_rng over 10^6+ draws (DESIGN.md: chi-square at
// alpha = 1e-6, or 5 sigma bounds), each with a control: a generator biased
// by one percentage point — run through the same statistic — must fail it.
// The library's own keep/drop decision (dropout) is tested the same way in
// tests/layers/test_dropout_stats.cpp.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace core_rng_stats_tests {  // tests/CMakeLists.txt: one translation unit per folder

using autodidact::philox_rng;
using autodidact::rng_stream;

namespace {

// Upper-tail normal quantiles: z(1e-6), and z(2.5e-7) for four tests at a
// joint alpha of 1e-6 (Bonferroni).
constexpr double z_1e6 = 4.753424;
constexpr double z_4_tests = 5.026313;

// Upper critical value of chi-square with k degrees of freedom at the tail
// probability whose normal quantile is z, by the Wilson-Hilferty
// approximation (accurate to well under 1% for k >= 50).
double chi_square_critical(int k, double z = z_1e6) {
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

double chi_square(const std::vector<double>& counts, double draws) {
  const double expected = draws / static_cast<double>(counts.size());
  double chi = 0;
  for (double c : counts) chi += (c - expected) * (c - expected) / expected;
  return chi;
}

// Chi-square statistic of `draws` uniform draws binned into `bins` equal bins.
double uniform_chi_square(const std::function<float(std::uint32_t)>& draw, int draws, int bins) {
  std::vector<double> counts(static_cast<std::size_t>(bins), 0.0);
  for (int i = 0; i < draws; ++i) {
    int bin = static_cast<int>(draw(static_cast<std::uint32_t>(i)) * static_cast<float>(bins));
    if (bin >= bins) bin = bins - 1;
    counts[static_cast<std::size_t>(bin)] += 1.0;
  }
  return chi_square(counts, draws);
}

// z-score of the number of draws below p among n draws.
double bernoulli_z(const std::function<double(std::uint32_t)>& draw, int n, double p) {
  double hits = 0;
  for (int i = 0; i < n; ++i) hits += draw(static_cast<std::uint32_t>(i)) < p ? 1.0 : 0.0;
  return (hits - n * p) / std::sqrt(n * p * (1 - p));
}

// Per word of a Philox block: chi-square over the 256 values of the top
// byte, and the z-score of the mean of the word as a uniform float.
struct word_stats {
  std::array<double, 4> chi, mean_z;
};
word_stats block_word_stats(const std::function<philox_rng::block(std::uint32_t)>& draw, int blocks) {
  std::array<std::vector<double>, 4> counts;
  for (auto& c : counts) c.assign(256, 0.0);
  std::array<double, 4> sum{};
  for (int i = 0; i < blocks; ++i) {
    const auto b = draw(static_cast<std::uint32_t>(i));
    for (std::size_t w = 0; w < 4; ++w) {
      counts[w][b[w] >> 24] += 1.0;
      sum[w] += philox_rng::to_unit_float(b[w]);
    }
  }
  word_stats s{};
  for (std::size_t w = 0; w < 4; ++w) {
    s.chi[w] = chi_square(counts[w], blocks);
    // the mean of n uniform floats: 1/2, with variance 1/12 each
    // (24-bit floats: mean 1/2 - 2^-25, negligible against sigma ~ 3e-4)
    s.mean_z[w] = (sum[w] / blocks - 0.5) / std::sqrt(1.0 / 12.0 / blocks);
  }
  return s;
}

// Moments of normal draws: z-scores of the mean (against 0), of the mean
// square (against 1, Var(x^2) = 2) and of the mean fourth power (against 3,
// Var(x^4) = 105 - 9), and the chi-square of Phi(x) over 100 equal bins.
struct normal_stats {
  double mean_z, var_z, fourth_z, chi;
};
normal_stats normal_moments(const std::function<std::array<double, 2>(std::uint32_t)>& draw, int pairs) {
  double sum = 0, sum_sq = 0, sum4 = 0;
  std::vector<double> counts(100, 0.0);
  for (int i = 0; i < pairs; ++i) {
    for (double x : draw(static_cast<std::uint32_t>(i))) {
      sum += x;
      sum_sq += x * x;
      sum4 += x * x * x * x;
      const double u = 0.5 * std::erfc(-x / std::sqrt(2.0));
      int bin = static_cast<int>(u * 100.0);
      counts[static_cast<std::size_t>(bin > 99 ? 99 : bin)] += 1.0;
    }
  }
  const double m = 2.0 * pairs;
  return {(sum / m) / std::sqrt(1.0 / m), (sum_sq / m - 1.0) / std::sqrt(2.0 / m),
          (sum4 / m - 3.0) / std::sqrt(96.0 / m), chi_square(counts, m)};
}

}  // namespace

TEST_CASE("uniform floats pass a chi-square test over 100 bins (alpha 1e-6)", "[stats]") {
  const philox_rng rng(20261130, rng_stream::masking);
  const int draws = 2'000'000, bins = 100;
  const double critical = chi_square_critical(bins - 1);
  const double chi = uniform_chi_square([&](std::uint32_t i) { return rng.uniform(3, i); }, draws, bins);
  INFO("chi2 = " << chi << ", critical = " << critical);
  CHECK(chi < critical);

  // Control: a generator that sends one percentage point of its draws into
  // the lowest bin must be detected.
  const double biased = uniform_chi_square(
      [&](std::uint32_t i) {
        const float u = rng.uniform(3, i);
        return rng.uniform(4, i) < 0.01f ? u * 0.01f : u;
      },
      draws, bins);
  INFO("biased chi2 = " << biased);
  CHECK(biased > critical);
}

TEST_CASE("each of the four words of a block is uniform (chi-square of the top byte, mean; 2^20 blocks)",
          "[stats]") {
  // Four words, four tests of each kind: each at alpha 2.5e-7 (z = 5.03),
  // so each kind holds a joint alpha of 1e-6.
  const philox_rng rng(7, rng_stream::dropout);
  const int blocks = 1 << 20;  // 1,048,576 draws of each word
  const double critical = chi_square_critical(255, z_4_tests);
  const auto lib = block_word_stats([&](std::uint32_t i) { return rng(0, i); }, blocks);
  for (int w = 0; w < 4; ++w) {
    INFO("word " << w << ": chi2 = " << lib.chi[w] << " (critical " << critical << "), mean z = " << lib.mean_z[w]);
    CHECK(lib.chi[w] < critical);
    CHECK(std::abs(lib.mean_z[w]) < z_4_tests);
  }

  // Control 1: one word (here the last) set to 0 in one percentage point
  // of the blocks: the chi-square of that word fails.
  const auto zeroed = block_word_stats(
      [&](std::uint32_t i) {
        auto b = rng(0, i);
        if (rng.uniform(1, i) < 0.01f) b[3] = 0;
        return b;
      },
      blocks);
  INFO("word 3 set to 0 in 1% of blocks: chi2 = " << zeroed.chi[3]);
  CHECK(zeroed.chi[3] > critical);

  // Control 2: a subtler bias a chi-square of 256 bins misses: one word
  // redrawn from [0, 1/2) in one percentage point of the blocks (the lower
  // half gets 0.5% more mass). The mean catches it (about 8.6 sigma).
  for (std::size_t w = 0; w < 4; ++w) {
    const auto halved = block_word_stats(
        [&](std::uint32_t i) {
          auto b = rng(0, i);
          if (rng.uniform(1, i) < 0.01f) b[w] >>= 1;
          return b;
        },
        blocks);
    INFO("word " << w << " halved in 1% of blocks: mean z = " << halved.mean_z[w]);
    CHECK(std::abs(halved.mean_z[w]) > z_4_tests);
  }
}

TEST_CASE("uniform() and uniform_double(): the event u < p has probability p within 5 sigma", "[stats]") {
  // The threshold test every keep/drop or mask decision makes (dropout's own
  // decision is tested in layers_dropout_stats), at p = 0.15, 0.5 and 0.9.
  const philox_rng rng(99, rng_stream::masking);
  const int n = 1'000'000;
  for (double p : {0.15, 0.5, 0.9}) {
    const double z = bernoulli_z([&](std::uint32_t i) { return rng.uniform(0, i); }, n, p);
    const double zd = bernoulli_z([&](std::uint32_t i) { return rng.uniform_double(1, i); }, n, p);
    INFO("p = " << p << ": z = " << z << ", double z = " << zd);
    CHECK(std::abs(z) < 5.0);
    CHECK(std::abs(zd) < 5.0);
    // Control: a generator shifted down by 0.01 fires at p + 0.01.
    const double z_biased = bernoulli_z([&](std::uint32_t i) { return rng.uniform(0, i) - 0.01; }, n, p);
    const double zd_biased =
        bernoulli_z([&](std::uint32_t i) { return rng.uniform_double(1, i) - 0.01; }, n, p);
    INFO("biased z = " << z_biased << ", double " << zd_biased);
    CHECK(std::abs(z_biased) > 5.0);
    CHECK(std::abs(zd_biased) > 5.0);
  }
}

TEST_CASE("below(n) is uniform over its range (chi-square over 1e6 draws)", "[stats]") {
  const philox_rng rng(5, rng_stream::sampling);
  const int draws = 1'000'000;
  for (std::uint32_t n : {97u, 1000u}) {
    const double critical = chi_square_critical(static_cast<int>(n) - 1);
    std::vector<double> counts(n, 0.0);
    for (int i = 0; i < draws; ++i) counts[rng.below(n, 1, static_cast<std::uint32_t>(i))] += 1.0;
    const double chi = chi_square(counts, draws);
    INFO("n = " << n << ": chi2 = " << chi << ", critical " << critical);
    CHECK(chi < critical);
    // Control: a generator that returns 0 for one percentage point of its draws.
    std::vector<double> biased(n, 0.0);
    for (int i = 0; i < draws; ++i) {
      std::uint32_t v = rng.below(n, 1, static_cast<std::uint32_t>(i));
      if (rng.uniform(2, static_cast<std::uint32_t>(i)) < 0.01f) v = 0;
      biased[v] += 1.0;
    }
    const double chi_b = chi_square(biased, draws);
    INFO("biased chi2 = " << chi_b);
    CHECK(chi_b > critical);
  }
}

TEST_CASE("normal2: mean 0, variance 1, fourth moment 3 within 5 sigma; Phi(x) uniform (chi-square)",
          "[stats]") {
  const philox_rng rng(11, rng_stream::init);
  const int pairs = 1'000'000;  // 2e6 normal draws
  const double critical = chi_square_critical(99);
  auto draw = [&](std::uint32_t i) { return rng.normal2(0, i); };
  const normal_stats lib = normal_moments(draw, pairs);
  INFO("mean z = " << lib.mean_z << ", variance z = " << lib.var_z << ", fourth z = " << lib.fourth_z
                   << ", chi2 = " << lib.chi << " (critical " << critical << ")");
  CHECK(std::abs(lib.mean_z) < 5.0);
  CHECK(std::abs(lib.var_z) < 5.0);
  CHECK(std::abs(lib.fourth_z) < 5.0);
  CHECK(lib.chi < critical);

  // Controls: actual biased generators through the same statistics.
  // A standard deviation 1% too large (variance +2%).
  const normal_stats wide = normal_moments(
      [&](std::uint32_t i) {
        const auto z = draw(i);
        return std::array<double, 2>{1.01 * z[0], 1.01 * z[1]};
      },
      pairs);
  INFO("sd 1.01: variance z = " << wide.var_z << ", chi2 = " << wide.chi);
  CHECK(std::abs(wide.var_z) > 5.0);
  // A mean shifted by 0.01 (one percent of a standard deviation).
  const normal_stats shifted = normal_moments(
      [&](std::uint32_t i) {
        const auto z = draw(i);
        return std::array<double, 2>{z[0] + 0.01, z[1] + 0.01};
      },
      pairs);
  INFO("mean +0.01: mean z = " << shifted.mean_z);
  CHECK(std::abs(shifted.mean_z) > 5.0);
  // One percentage point of the draws replaced by 0: the chi-square of Phi(x).
  const normal_stats spiked = normal_moments(
      [&](std::uint32_t i) {
        auto z = draw(i);
        if (rng.uniform(1, i) < 0.01f) z[0] = z[1] = 0.0;
        return z;
      },
      pairs);
  INFO("1% zeros: chi2 = " << spiked.chi);
  CHECK(spiked.chi > critical);
}

}  // namespace core_rng_stats_tests
