// Statistical tests of philox_rng over 10^6+ draws (DESIGN.md: chi-square at
// alpha = 1e-6, or 5 sigma bounds), each with a control: a generator biased
// by one percentage point must fail the same test.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

using autodidact::philox_rng;
using autodidact::rng_stream;

namespace {

// Upper critical value of chi-square with k degrees of freedom at tail
// probability 1e-6, by the Wilson-Hilferty approximation (accurate to well
// under 1% for k >= 50). z(1e-6) = 4.753424.
double chi_square_critical(int k) {
  const double z = 4.753424;
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

// Chi-square statistic of `draws` uniform draws binned into `bins` equal bins.
double uniform_chi_square(const std::function<float(std::uint32_t)>& draw, int draws, int bins) {
  std::vector<double> counts(static_cast<std::size_t>(bins), 0.0);
  for (int i = 0; i < draws; ++i) {
    int bin = static_cast<int>(draw(static_cast<std::uint32_t>(i)) * static_cast<float>(bins));
    if (bin >= bins) bin = bins - 1;
    counts[static_cast<std::size_t>(bin)] += 1.0;
  }
  const double expected = static_cast<double>(draws) / bins;
  double chi = 0;
  for (double c : counts) chi += (c - expected) * (c - expected) / expected;
  return chi;
}

// z-score of the number of draws below p among n draws.
double bernoulli_z(const std::function<float(std::uint32_t)>& draw, int n, double p) {
  double hits = 0;
  for (int i = 0; i < n; ++i) hits += draw(static_cast<std::uint32_t>(i)) < p ? 1.0 : 0.0;
  return (hits - n * p) / std::sqrt(n * p * (1 - p));
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

TEST_CASE("all four words of a block are uniform (chi-square, 256 bins of the top byte)", "[stats]") {
  const philox_rng rng(7, rng_stream::dropout);
  const int blocks = 500'000, bins = 256;
  const double critical = chi_square_critical(4 * (bins - 1));
  std::vector<double> counts(4 * bins, 0.0);
  for (int i = 0; i < blocks; ++i) {
    const auto b = rng(0, static_cast<std::uint32_t>(i));
    for (int w = 0; w < 4; ++w) counts[static_cast<std::size_t>(w * bins + (b[w] >> 24))] += 1.0;
  }
  const double expected = static_cast<double>(blocks) / bins;
  double chi = 0;
  for (double c : counts) chi += (c - expected) * (c - expected) / expected;
  INFO("chi2 = " << chi << ", critical = " << critical);
  CHECK(chi < critical);
}

TEST_CASE("a 15% masking decision is hit at 15% within 5 sigma; 16% is rejected", "[stats]") {
  const philox_rng rng(99, rng_stream::masking);
  const int n = 1'000'000;
  const double z = bernoulli_z([&](std::uint32_t i) { return rng.uniform(0, i); }, n, 0.15);
  INFO("z = " << z);
  CHECK(std::abs(z) < 5.0);
  // Control: a decision that fires at 16% instead of 15% is far outside.
  const double z_biased = bernoulli_z([&](std::uint32_t i) { return rng.uniform(0, i) - 0.01f; }, n, 0.15);
  INFO("biased z = " << z_biased);
  CHECK(std::abs(z_biased) > 5.0);
}

TEST_CASE("below(n) is uniform over its range (chi-square over 1e6 draws)", "[stats]") {
  const philox_rng rng(5, rng_stream::sampling);
  const int draws = 1'000'000;
  const std::uint32_t n = 97;
  const double critical = chi_square_critical(static_cast<int>(n) - 1);
  std::vector<double> counts(n, 0.0);
  for (int i = 0; i < draws; ++i) counts[rng.below(n, 1, static_cast<std::uint32_t>(i))] += 1.0;
  double chi = 0;
  const double expected = static_cast<double>(draws) / n;
  for (double c : counts) chi += (c - expected) * (c - expected) / expected;
  CHECK(chi < critical);
  // Control: shift one percentage point of mass onto value 0.
  std::vector<double> biased(n, 0.0);
  for (int i = 0; i < draws; ++i) {
    std::uint32_t v = rng.below(n, 1, static_cast<std::uint32_t>(i));
    if (rng.uniform(2, static_cast<std::uint32_t>(i)) < 0.01f) v = 0;
    biased[v] += 1.0;
  }
  double chi_b = 0;
  for (double c : biased) chi_b += (c - expected) * (c - expected) / expected;
  CHECK(chi_b > critical);
}

TEST_CASE("normal2 has mean 0 and variance 1 within 5 sigma", "[stats]") {
  const philox_rng rng(11, rng_stream::init);
  const int n = 500'000;  // 1e6 normal draws
  double sum = 0, sum_sq = 0, sum4 = 0;
  for (int i = 0; i < n; ++i) {
    const auto z = rng.normal2(0, static_cast<std::uint32_t>(i));
    for (double x : z) {
      sum += x;
      sum_sq += x * x;
      sum4 += x * x * x * x;
    }
  }
  const double m = 2.0 * n;
  const double mean = sum / m, var = sum_sq / m;
  CHECK(std::abs(mean) < 5.0 / std::sqrt(m));
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / m));        // Var(x^2) = 2
  CHECK(std::abs(sum4 / m - 3.0) < 5.0 * std::sqrt(96.0 / m));  // Var(x^4) = 105 - 9
  // Control: a 1% larger standard deviation (variance +2%) is rejected.
  CHECK(std::abs(var * 1.0201 - 1.0) > 5.0 * std::sqrt(2.0 / m));
}
