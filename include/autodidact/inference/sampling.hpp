#pragma once
// Choosing the next token from a row of logits, with Hugging Face's
// semantics (transformers.generation.logits_process), in this order:
//
//   1. repetition penalty r (RepetitionPenaltyLogitsProcessor): for every
//      token id already in the sequence (prompt or generated), a logit
//      s > 0 becomes s / r and s <= 0 becomes s · r. Applies to greedy too.
//   2. greedy — when do_sample is false or temperature <= 0 (our rule; HF
//      rejects a temperature <= 0): the first id with the largest logit.
//   otherwise, on the logits as doubles:
//   3. temperature t (TemperatureLogitsWarper): s / t.
//   4. top-k k > 0 (TopKLogitsWarper): drop s < the k-th largest logit
//      (ties with it are kept); k > V means V.
//   5. top-p p < 1 (TopPLogitsWarper): sort ascending, drop while the
//      cumulative softmax mass of the sorted prefix is <= 1 − p; the
//      largest always stays.
//   6. min-p m > 0 (MinPLogitsWarper): drop tokens whose probability is
//      < m · the largest probability (the largest always stays).
//   7. the filtered probabilities softmax(kept logits) are sampled by
//      inverse CDF in token-id order with one uniform double u in [0, 1)
//      from Philox (core/rng.hpp, stream rng_stream::sampling, counter
//      (step, sequence)): the first id whose cumulative probability
//      exceeds u. Same seed, same tokens, on any machine and thread count.
//
// Everything works in caller-provided buffers: no allocation.

#include <algorithm>  // for std::sort
#include <cmath>      // for std::exp, std::isfinite
#include <cstddef>    // for std::size_t
#include <cstdint>    // for std::int32_t, std::uint8_t, std::uint64_t
#include <limits>     // for std::numeric_limits

#include "autodidact/core/error.hpp"  // for require
#include "autodidact/core/rng.hpp"    // for philox_rng, rng_stream

namespace autodidact::inference {

struct sampling_options {
  bool do_sample = false;           // false: greedy
  double temperature = 1.0;         // <= 0 with do_sample: greedy (documented rule)
  int top_k = 0;                    // 0: off
  double top_p = 1.0;               // in (0, 1]; 1: off
  double min_p = 0.0;               // in [0, 1]; 0: off
  double repetition_penalty = 1.0;  // > 0; 1: off
  std::uint64_t seed = 0;           // keys the sampling stream
};

// Whether the options pick the argmax (no random draw).
inline bool is_greedy(const sampling_options& o) noexcept { return !o.do_sample || !(o.temperature > 0.0); }

// Each option in its range, else an invalid_argument naming it.
inline void validate(const sampling_options& o) {
  require(o.top_p > 0.0 && o.top_p <= 1.0, "sampling: top_p = ", o.top_p, " must be in (0, 1]");
  require(o.min_p >= 0.0 && o.min_p <= 1.0, "sampling: min_p = ", o.min_p, " must be in [0, 1]");
  require(o.top_k >= 0, "sampling: top_k = ", o.top_k, " must be >= 0 (0: off)");
  require(o.repetition_penalty > 0.0 && std::isfinite(o.repetition_penalty), "sampling: repetition_penalty = ",
          o.repetition_penalty, " must be a positive number (1: off)");
  require(!(o.temperature != o.temperature), "sampling: temperature is NaN");
}

namespace detail {
inline constexpr double filtered = -std::numeric_limits<double>::infinity();

// p[i] = exp(s[i] − max) / Σ over the kept (finite) scores.
inline void softmax_into(int v, const double* s, double* p) {
  double mx = filtered;
  for (int i = 0; i < v; ++i) mx = s[i] > mx ? s[i] : mx;
  double sum = 0;
  for (int i = 0; i < v; ++i) sum += (p[i] = s[i] == filtered ? 0.0 : std::exp(s[i] - mx));
  for (int i = 0; i < v; ++i) p[i] /= sum;
}

// order[0, v) = ids sorted by ascending score (ties by ascending id).
inline void sort_ascending(int v, const double* s, std::int32_t* order) {
  for (int i = 0; i < v; ++i) order[i] = i;
  std::sort(order, order + v, [s](std::int32_t a, std::int32_t b) { return s[a] < s[b] || (s[a] == s[b] && a < b); });
}
}  // namespace detail

// Step 1 in place on logits [V]: seen[i] != 0 marks the ids in the sequence.
template <class T>
void apply_repetition_penalty(int v, T* logits, const std::uint8_t* seen, double penalty) {
  if (penalty == 1.0) return;
  for (int i = 0; i < v; ++i) {
    if (!seen[i]) continue;
    const double s = static_cast<double>(logits[i]);
    logits[i] = static_cast<T>(s > 0 ? s / penalty : s * penalty);
  }
}

// Step 2: the first id with the largest logit.
template <class T>
std::int32_t greedy_token(int v, const T* logits) {
  int best = 0;
  for (int i = 1; i < v; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

// Steps 3-6: scores [V] (the penalised logits as doubles) become the
// filtered scores (−inf where dropped) and probs [V] their softmax.
// order [V] is scratch.
inline void filter_scores(int v, double* scores, const sampling_options& o, double* probs, std::int32_t* order) {
  using detail::filtered;
  if (o.temperature != 1.0)
    for (int i = 0; i < v; ++i) scores[i] /= o.temperature;
  if (o.top_k > 0 && o.top_k < v) {
    // The k-th largest score: the (v − k)-th in ascending order.
    for (int i = 0; i < v; ++i) order[i] = i;
    std::nth_element(order, order + (v - o.top_k), order + v,
                     [scores](std::int32_t a, std::int32_t b) { return scores[a] < scores[b]; });
    const double kth = scores[order[v - o.top_k]];
    for (int i = 0; i < v; ++i)
      if (scores[i] < kth) scores[i] = filtered;
  }
  if (o.top_p < 1.0) {
    detail::softmax_into(v, scores, probs);
    detail::sort_ascending(v, scores, order);
    double cum = 0;
    for (int j = 0; j < v - 1; ++j) {  // the last (largest) always stays
      cum += probs[order[j]];
      if (cum <= 1.0 - o.top_p) scores[order[j]] = filtered;
      else break;
    }
  }
  if (o.min_p > 0.0) {
    detail::softmax_into(v, scores, probs);
    double top = 0;
    int arg = 0;
    for (int i = 0; i < v; ++i)
      if (probs[i] > top) top = probs[i], arg = i;
    for (int i = 0; i < v; ++i)
      if (i != arg && probs[i] < o.min_p * top) scores[i] = filtered;
  }
  detail::softmax_into(v, scores, probs);
}

// Step 7: the first id whose cumulative probability exceeds u (u in [0, 1));
// ids with probability 0 are never chosen.
inline std::int32_t draw_token(int v, const double* probs, double u) {
  double cum = 0;
  int last = -1;
  for (int i = 0; i < v; ++i) {
    if (probs[i] <= 0.0) continue;
    cum += probs[i];
    last = i;
    if (u < cum) return i;
  }
  return last;  // rounding left u >= the total: the last kept id
}

// The uniform of step `step` of sequence `sequence` for seed `seed`.
inline double sampling_uniform(std::uint64_t seed, std::uint32_t step, std::uint32_t sequence) noexcept {
  return philox_rng(seed, rng_stream::sampling).uniform_double(step, sequence);
}

// Steps 1-7 on one row: logits [V] are penalised in place; scores, probs
// [V] and order [V] are scratch (probs holds the filtered distribution
// after a sampled draw).
template <class T>
std::int32_t next_token(int v, T* logits, const std::uint8_t* seen, const sampling_options& o, std::uint32_t step,
                        std::uint32_t sequence, double* scores, double* probs, std::int32_t* order) {
  apply_repetition_penalty(v, logits, seen, o.repetition_penalty);
  if (is_greedy(o)) return greedy_token(v, logits);
  for (int i = 0; i < v; ++i) scores[i] = static_cast<double>(logits[i]);
  filter_scores(v, scores, o, probs, order);
  return draw_token(v, probs, sampling_uniform(o.seed, step, sequence));
}

}  // namespace autodidact::inference
