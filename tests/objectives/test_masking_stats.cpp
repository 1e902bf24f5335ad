// Statistics of BERT's masking (objectives/masking.hpp) over more than 10^6
// eligible tokens per case (DESIGN.md: >= 10^6 draws, 5 sigma bounds):
//   - the selected fraction is `select` within 5 sigma (binomial), and no
//     special or padding token is ever selected;
//   - among the selected: [MASK] `mask`, a random token `random`, unchanged
//     the rest, each within 5 sigma;
//   - random replacements are uniform over the non-special ids (chi-square
//     over 97 ids: below its mean + 5 sigma), and never special;
//   - whole-word masking selects words, not pieces: every word is all
//     selected or not at all, and the fraction of words selected is
//     `select` within 5 sigma.
//   - the sampled softmax's normaliser estimate (heads/sampled_softmax.hpp)
//     is unbiased: its mean over 10^5 draws of candidates (the other rows'
//     labels drawn from the label distribution) is the full sum within 5
//     standard errors, and the unweighted sum over the candidates is not.
// Each statistic has a control that must fail: the same z against a rate
// off by one percentage point (the test has the power to see it).
#include <catch2/catch.hpp>

#include <autodidact/heads/sampled_softmax.hpp>
#include <autodidact/objectives/masking.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace objectives_masking_stats_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using namespace autodidact::objectives;

namespace {

constexpr int vocab = 100, t = 128, windows = 8400;  // 8400 x ~120 eligible = ~10^6 tokens
constexpr std::int32_t pad = 0, cls = 1, sep = 2, mask = 3;

double z(double count, double trials, double p) { return (count - trials * p) / std::sqrt(trials * p * (1 - p)); }

// Window w: [CLS] words... [SEP] then padding after a length that varies
// with w; words are ids 4..99; every third token continues a word.
struct window_data {
  std::vector<std::int32_t> ids, labels;
  std::vector<std::uint8_t> special, word_start;  // special: 1 = never masked
  int length = 0;
};
window_data make_window(std::uint64_t w) {
  window_data d;
  d.length = t - static_cast<int>(w % 9);
  d.ids.assign(t, pad);
  d.special.assign(t, 1);
  d.word_start.assign(t, 0);
  d.labels.assign(t, 0);
  d.ids[0] = cls;
  for (int i = 1; i < d.length - 1; ++i) {
    d.ids[static_cast<std::size_t>(i)] = 4 + static_cast<std::int32_t>((w * 31 + static_cast<std::uint64_t>(i) * 7) % 96);
    d.special[static_cast<std::size_t>(i)] = 0;
    d.word_start[static_cast<std::size_t>(i)] = i % 3 != 2;
  }
  d.ids[static_cast<std::size_t>(d.length - 1)] = sep;
  return d;
}

const std::int32_t specials[] = {pad, cls, sep};

}  // namespace

TEST_CASE("masking selects a fraction p and splits it 80/10/10 (5 sigma over 10^6 tokens)", "[stats][masking]") {
  const masking_vocabulary v = masking_vocabulary::from(vocab, specials, mask);
  const masking_options o{.select = 0.15, .mask = 0.8, .random = 0.1, .seed = 2024};
  double eligible = 0, selected = 0, masked = 0, replaced = 0, kept = 0;
  std::vector<double> replacement_counts(vocab, 0.0);
  bool specials_untouched = true, replacements_regular = true;
  for (std::uint64_t w = 0; w < windows; ++w) {
    window_data d = make_window(w + (std::uint64_t{1} << 33));  // high window bits in use
    const std::vector<std::int32_t> original = d.ids;
    const int s = mask_window(o, v, 3, w + (std::uint64_t{1} << 33), {d.ids, d.special, {}, d.labels});
    int counted = 0;
    for (std::size_t i = 0; i < d.ids.size(); ++i) {
      eligible += !d.special[i];
      if (d.labels[i] == ignore_label) {
        specials_untouched = specials_untouched && d.ids[i] == original[i];
        continue;
      }
      ++counted;
      specials_untouched = specials_untouched && !d.special[i];
      REQUIRE(d.labels[i] == original[i]);
      if (d.ids[i] == mask) {
        ++masked;
      } else if (d.ids[i] == original[i]) {
        ++kept;  // (a random draw equal to the original also lands here: 1/96 of 10 %)
      } else {
        ++replaced;
      }
      if (d.ids[i] != mask && d.ids[i] != original[i]) {
        replacements_regular = replacements_regular && d.ids[i] > mask;
        replacement_counts[static_cast<std::size_t>(d.ids[i])] += 1;
      }
    }
    REQUIRE(counted == s);
    selected += s;
  }
  CHECK(eligible > 1e6);
  CHECK(specials_untouched);
  CHECK(replacements_regular);
  INFO("eligible " << eligible << ", selected " << selected << ", masked " << masked << ", replaced " << replaced
                   << ", kept " << kept);
  const double z_select = z(selected, eligible, 0.15);
  CHECK(std::abs(z_select) < 5);
  CHECK(std::abs(z(selected, eligible, 0.16)) > 5);  // control
  // A random draw may equal the original id (1 in the 96 regular ids): it
  // counts as kept.
  const double p_replaced = 0.1 * 95.0 / 96.0, p_kept = 0.1 + 0.1 / 96.0;
  CHECK(std::abs(z(masked, selected, 0.8)) < 5);
  CHECK(std::abs(z(masked, selected, 0.81)) > 5);  // control
  CHECK(std::abs(z(replaced, selected, p_replaced)) < 5);
  CHECK(std::abs(z(kept, selected, p_kept)) < 5);
  CHECK(std::abs(z(replaced, selected, p_replaced + 0.01)) > 5);  // control
  // Uniformity of the replacements over the 96 regular ids (4..99; the
  // draws equal to the original are counted as kept, which the expected
  // count ignores: about 1/96 of each count, far inside the bound).
  double total = 0;
  for (int id = 4; id < vocab; ++id) total += replacement_counts[static_cast<std::size_t>(id)];
  double chi2 = 0;
  const double expected = total / 96.0;
  for (int id = 4; id < vocab; ++id) {
    const double d = replacement_counts[static_cast<std::size_t>(id)] - expected;
    chi2 += d * d / expected;
  }
  const double dof = 95, bound = dof + 5 * std::sqrt(2 * dof);
  INFO("chi-square " << chi2 << " with " << dof << " degrees of freedom, bound " << bound);
  CHECK(chi2 < bound);
  // Control: the same statistic against a distribution that favours the
  // first half of the ids by 10 % fails.
  double chi2_control = 0;
  for (int id = 4; id < vocab; ++id) {
    const double e = expected * (id < 52 ? 1.1 : 0.9);
    const double d = replacement_counts[static_cast<std::size_t>(id)] - e;
    chi2_control += d * d / e;
  }
  CHECK(chi2_control > bound);
}

TEST_CASE("whole-word masking selects whole words at rate p (5 sigma)", "[stats][masking]") {
  const masking_vocabulary v = masking_vocabulary::from(vocab, specials, mask);
  const masking_options o{.select = 0.15, .whole_word = true, .seed = 99};
  double words = 0, words_selected = 0;
  bool whole = true;
  for (std::uint64_t w = 0; w < 3 * windows / 2; ++w) {  // ~80 words a window: 10^6 words
    window_data d = make_window(w);
    mask_window(o, v, 0, w, {d.ids, d.special, d.word_start, d.labels});
    // Walk the words: a word is a start piece and the continuations after it.
    std::size_t i = 1;
    while (i < d.ids.size() && !d.special[i]) {
      std::size_t end = i + 1;
      while (end < d.ids.size() && !d.special[end] && !d.word_start[end]) ++end;
      const bool first = d.labels[i] != ignore_label;
      for (std::size_t k = i; k < end; ++k) whole = whole && (d.labels[k] != ignore_label) == first;
      words += 1;
      words_selected += first;
      i = end;
    }
  }
  CHECK(whole);
  CHECK(words > 1e6);
  INFO("words " << words << ", selected " << words_selected);
  CHECK(std::abs(z(words_selected, words, 0.15)) < 5);
  CHECK(std::abs(z(words_selected, words, 0.16)) > 5);  // control
}

}  // namespace objectives_masking_stats_tests

namespace objectives_masking_stats_tests {

TEST_CASE("the sampled softmax's importance-weighted normaliser is unbiased (5 standard errors, 10^5 draws)",
          "[stats][sampled]") {
  constexpr int V = 300, rows = 40, draws = 100000;
  std::vector<double> counts(V), p(V), cdf(V);
  double total = 0;
  for (int i = 0; i < V; ++i) total += counts[static_cast<std::size_t>(i)] = 3000.0 / (1 + i);
  for (int i = 0; i < V; ++i) {
    p[static_cast<std::size_t>(i)] = (counts[static_cast<std::size_t>(i)] + 1) / (total + V);  // the sampler's p
    cdf[static_cast<std::size_t>(i)] = (i ? cdf[static_cast<std::size_t>(i - 1)] : 0.0) + p[static_cast<std::size_t>(i)];
  }
  // Fixed logits of one row whose label is token 7; the other rows' labels
  // are drawn from p for every draw of candidates.
  std::vector<double> o(V);
  const philox_rng rng(17, rng_stream::user);
  for (int i = 0; i < V; ++i) o[static_cast<std::size_t>(i)] = 1.5 * rng.normal2(0, static_cast<std::uint32_t>(i))[0];
  constexpr std::int32_t y = 7;
  double z_full = 0;
  for (int c = 0; c < V; ++c) z_full += std::exp(o[static_cast<std::size_t>(c)]);
  heads::sampled_softmax<double> s({.negatives = 60, .seed = 4}, counts, rows, 1);
  std::vector<std::int32_t> labels(rows);
  double sum = 0, sum2 = 0, naive = 0;
  for (int d = 0; d < draws; ++d) {
    labels[0] = y;
    for (int r = 1; r < rows; ++r) {
      const double u = rng.uniform_double(1, static_cast<std::uint32_t>(d), static_cast<std::uint32_t>(r));
      labels[static_cast<std::size_t>(r)] =
          static_cast<std::int32_t>(std::min<std::ptrdiff_t>(V - 1, std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin()));
    }
    s.draw(labels, static_cast<std::uint32_t>(d), 0);
    double est = 0, plain = 0;
    for (int k = 0; k < s.size(); ++k) {
      const std::int32_t c = s.candidates()[static_cast<std::size_t>(k)];
      const double e = std::exp(o[static_cast<std::size_t>(c)]);
      est += c == y ? e : e * std::exp(-s.log_pi()[static_cast<std::size_t>(k)]);
      plain += e;
    }
    sum += est;
    sum2 += est * est;
    naive += plain;
  }
  const double mean = sum / draws, se = std::sqrt((sum2 / draws - mean * mean) / draws);
  INFO("full " << z_full << ", estimate " << mean << " +- " << se << ", unweighted " << naive / draws);
  CHECK(std::abs(mean - z_full) <= 5 * se);
  CHECK(se < 0.01 * z_full);                           // a precise test
  CHECK(std::abs(naive / draws - z_full) > 20 * se);   // control: without the weights it is biased
}

}  // namespace objectives_masking_stats_tests
