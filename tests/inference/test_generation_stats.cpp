// The sampler draws tokens with the frequencies of its filtered
// distribution: 10^6 seeded draws (2·10^5 under ASan) through inference::next_token (the
// generator's own path: penalty, temperature, top-k, top-p, min-p, Philox
// uniform, inverse CDF) against the filtered probabilities, by a χ² test at
// α = 1e-6 (DESIGN.md, "Statistics"). Filtered tokens are never drawn. The
// control: the same test rejects a sampler biased by one percentage point.
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include <cmath>
#include <vector>

namespace inference_generation_stats_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

namespace {

constexpr int v = 101;
// The sanitizer build (about 15x slower here: 150 s for 10^6 draws, the
// longest test of CI) draws a fifth as many; at 200,000 the control's one
// point of bias still lands far past the critical value (the control checks it).
#if defined(__SANITIZE_ADDRESS__)
constexpr int draws = 200000;
#else
constexpr int draws = 1000000;
#endif

// The χ² quantile at 1 − 1e-6 for df degrees of freedom (Wilson-Hilferty;
// z = 4.7534 is the standard normal's 1 − 1e-6 quantile).
double chi2_critical(int df) {
  const double z = 4.753424308822899, a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

// χ² of observed counts against n·p over the tokens with p > 0 (bins with
// expected count < 5 merged into one); df = bins − 1.
std::pair<double, int> chi2(const std::vector<long>& counts, const std::vector<double>& p, long n) {
  double stat = 0, small_e = 0, small_o = 0;
  int bins = 0;
  for (int i = 0; i < v; ++i) {
    const double e = p[std::size_t(i)] * double(n);
    if (e <= 0) continue;
    if (e < 5) {
      small_e += e;
      small_o += double(counts[std::size_t(i)]);
      continue;
    }
    stat += (double(counts[std::size_t(i)]) - e) * (double(counts[std::size_t(i)]) - e) / e;
    ++bins;
  }
  if (small_e > 0) {
    stat += (small_o - small_e) * (small_o - small_e) / small_e;
    ++bins;
  }
  return {stat, bins - 1};
}

std::vector<double> fixed_logits() {
  std::vector<double> l(v);
  const philox_rng rng(8, rng_stream::user);
  for (int i = 0; i < v; ++i) l[std::size_t(i)] = 1.5 * rng.normal2(0, std::uint32_t(i))[0];
  return l;
}

struct outcome {
  std::vector<double> probs;  // the filtered distribution
  std::vector<long> counts;   // draws per token
};

// `draws` tokens from the sampler; bias moves 1 percentage point of
// probability from the likeliest token to the least likely kept one.
outcome sample(const inference::sampling_options& o, const std::vector<std::uint8_t>& seen, bool biased = false) {
  outcome r{std::vector<double>(v), std::vector<long>(v, 0)};
  std::vector<double> logits = fixed_logits(), scores(v), probs(v);
  std::vector<std::int32_t> order(v);
  std::vector<double> row(v);
  inference::apply_repetition_penalty(v, logits.data(), seen.data(), o.repetition_penalty);
  scores = logits;
  inference::filter_scores(v, scores.data(), o, r.probs.data(), order.data());
  std::vector<double> draw_probs = r.probs;
  if (biased) {
    int hi = 0, lo = -1;
    for (int i = 0; i < v; ++i) {
      if (draw_probs[std::size_t(i)] > draw_probs[std::size_t(hi)]) hi = i;
      if (draw_probs[std::size_t(i)] > 0 && (lo < 0 || draw_probs[std::size_t(i)] < draw_probs[std::size_t(lo)])) lo = i;
    }
    draw_probs[std::size_t(hi)] -= 0.01;
    draw_probs[std::size_t(lo)] += 0.01;
  }
  const auto no_penalty = [&] {
    auto q = o;
    q.repetition_penalty = 1.0;  // already applied above
    return q;
  }();
  for (int k = 0; k < draws; ++k) {
    std::int32_t t;
    if (biased) {
      t = inference::draw_token(v, draw_probs.data(), inference::sampling_uniform(o.seed, std::uint32_t(k), 0));
    } else {
      row = logits;  // next_token works in place: a fresh copy each draw
      t = inference::next_token(v, row.data(), seen.data(), no_penalty, std::uint32_t(k), 0, scores.data(),
                                probs.data(), order.data());
    }
    ++r.counts[std::size_t(t)];
  }
  return r;
}

}  // namespace

TEST_CASE("generation_stats: sampled token frequencies match the filtered distribution (chi-square, alpha 1e-6)",
          "[stats]") {
  std::vector<std::uint8_t> seen(v, 0);
  for (int i = 0; i < v; i += 7) seen[std::size_t(i)] = 1;
  const std::vector<std::pair<const char*, inference::sampling_options>> cases{
      {"temperature 0.8", {.do_sample = true, .temperature = 0.8, .seed = 1}},
      {"top-k 12 + top-p 0.9 + penalty 1.3",
       {.do_sample = true, .temperature = 1.2, .top_k = 12, .top_p = 0.9, .repetition_penalty = 1.3, .seed = 2}},
      {"min-p 0.05", {.do_sample = true, .min_p = 0.05, .seed = 3}},
  };
  for (const auto& [name, o] : cases) {
    INFO(name);
    const outcome r = sample(o, seen);
    long filtered_draws = 0;
    int kept = 0;
    for (int i = 0; i < v; ++i) {
      if (r.probs[std::size_t(i)] == 0) filtered_draws += r.counts[std::size_t(i)];
      kept += r.probs[std::size_t(i)] > 0;
    }
    CHECK(filtered_draws == 0);
    CHECK(kept >= 5);
    const auto [stat, df] = chi2(r.counts, r.probs, draws);
    INFO("chi2 = " << stat << " with " << df << " degrees of freedom, critical " << chi2_critical(df));
    CHECK(stat < chi2_critical(df));
    // Control: one percentage point moved between two tokens is rejected.
    const outcome b = sample(o, seen, true);
    const auto [bstat, bdf] = chi2(b.counts, r.probs, draws);
    INFO("biased: chi2 = " << bstat);
    CHECK(bstat > chi2_critical(bdf));
  }
}

}  // namespace inference_generation_stats_tests
