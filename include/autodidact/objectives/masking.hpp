#pragma once
// BERT's masking (Devlin et al. 2019, "BERT: Pre-training of Deep
// Bidirectional Transformers for Language Understanding", section 3.1):
// each eligible token (not special, not padding) is selected independently
// with probability `select`; a selected token becomes [MASK] with
// probability `mask`, a uniformly drawn non-special token with `random`,
// and stays as it is otherwise; its label is the original id (-100 for
// every token not selected). With whole-word masking (Google's BERT
// release of 2019), a word's pieces are selected together: the draw of the
// word's first piece decides for all of them.
//
// The draws are Philox (core/rng.hpp, stream masking) keyed by the seed and
// counted by (epoch, global window index, position): one window's
// corruption is a pure function of those, whatever the batch it sits in,
// the thread count, the number of ranks or the resume point.
//
//   objectives::masking_options o{.select = 0.15, .whole_word = true, .seed = 7};
//   auto vocab = objectives::masking_vocabulary::bert(tokenizer_vocab_size, special_ids, mask_id);
//   int selected = objectives::mask_window(o, vocab, epoch, window_index, {ids, special, word_start, labels});

#include <algorithm>  // for std::sort, std::unique, std::binary_search
#include <cstddef>    // for std::size_t
#include <cstdint>    // for std::int32_t, std::uint8_t, std::uint32_t, std::uint64_t
#include <span>       // for std::span
#include <vector>     // for std::vector

#include "autodidact/core/error.hpp"  // for require, invalid_argument
#include "autodidact/core/rng.hpp"    // for philox_rng, rng_stream

namespace autodidact::objectives {

inline constexpr std::int32_t ignore_label = -100;  // the loss skips it (kernels' default_ignore_index)

struct masking_options {
  double select = 0.15;     // probability that an eligible token (or word) is selected
  double mask = 0.8;        // a selected token becomes [MASK] ...
  double random = 0.1;      // ... or a uniformly drawn non-special token; else it stays
  bool whole_word = false;  // select a word's pieces together
  std::uint64_t seed = 0;   // keys the masking stream
};

// What masking needs to know of the vocabulary: the [MASK] id and the ids a
// random replacement is drawn from (every non-special id).
struct masking_vocabulary {
  std::int32_t mask_id = -1;
  std::vector<std::int32_t> replacements;

  // Every id of [0, vocab_size) except `special` ones; [MASK] is `mask_id`.
  static masking_vocabulary from(std::int32_t vocab_size, std::span<const std::int32_t> special,
                                 std::int32_t mask_id) {
    require(vocab_size > 0, "masking_vocabulary: the vocabulary size is ", vocab_size, ", expected at least 1");
    require(mask_id >= 0 && mask_id < vocab_size, "masking_vocabulary: the vocabulary has no [MASK] token (mask id ",
            mask_id, " is not in [0, ", vocab_size, "))");
    std::vector<std::int32_t> s(special.begin(), special.end());
    s.push_back(mask_id);
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
    masking_vocabulary v;
    v.mask_id = mask_id;
    for (std::int32_t id = 0; id < vocab_size; ++id)
      if (!std::binary_search(s.begin(), s.end(), id)) v.replacements.push_back(id);
    require(!v.replacements.empty(), "masking_vocabulary: every one of the ", vocab_size,
            " ids is special: nothing to draw a random replacement from");
    return v;
  }
};

// One window of T tokens to corrupt in place.
struct masked_window {
  std::span<std::int32_t> ids;                // [T]: corrupted in place
  std::span<const std::uint8_t> special;      // [T]: 1 = never selected (special tokens, padding)
  std::span<const std::uint8_t> word_start;   // [T]: 1 = first piece of a word (whole-word masking), or empty
  std::span<std::int32_t> labels;             // [T]: out: the original id where selected, else ignore_label
};

inline void check_masking(const masking_options& o, const masking_vocabulary& v) {
  auto probability = [](double p) { return p >= 0.0 && p <= 1.0; };
  require(probability(o.select), "masking: select = ", o.select, " must be a probability in [0, 1]");
  require(probability(o.mask) && probability(o.random) && o.mask + o.random <= 1.0, "masking: mask = ", o.mask,
          " and random = ", o.random, " must be probabilities with mask + random <= 1");
  require(v.mask_id >= 0, "masking: the vocabulary has no [MASK] token (masking_vocabulary::mask_id = ", v.mask_id,
          ")");
  require(o.random == 0.0 || !v.replacements.empty(),
          "masking: random = ", o.random, " needs ids to draw replacements from (masking_vocabulary::replacements is empty)");
}

// Corrupts one window; returns the number of selected tokens. The draws of
// token t are Philox block (step = epoch, index = window low 32 bits,
// index2 = window high bits · 2^16 + t): u0 selects, u1 chooses [MASK] /
// random / keep, word 2 draws the replacement.
inline int mask_window(const masking_options& o, const masking_vocabulary& v, std::uint32_t epoch,
                       std::uint64_t window_index, const masked_window& w) {
  const std::size_t t = w.ids.size();
  require(w.special.size() == t && w.labels.size() == t && (w.word_start.empty() || w.word_start.size() == t),
          "mask_window: ids, special, labels (and word_start when given) must have one entry per token: ", t, ", ",
          w.special.size(), ", ", w.labels.size(), ", ", w.word_start.size());
  require(t <= 65536, "mask_window: a window of ", t, " tokens is longer than the 65536 the draws are counted for");
  require(!o.whole_word || !w.word_start.empty(), "mask_window: whole-word masking needs word_start flags");
  const philox_rng rng(o.seed, rng_stream::masking);
  const auto index = static_cast<std::uint32_t>(window_index);
  const auto high = static_cast<std::uint32_t>(window_index >> 32) << 16;
  const auto select = static_cast<float>(o.select), mask = static_cast<float>(o.mask),
             keep_above = static_cast<float>(o.mask + o.random);
  int selected = 0;
  bool word_selected = false;  // whole-word: the current word's decision
  bool in_word = false;
  for (std::size_t i = 0; i < t; ++i) {
    w.labels[i] = ignore_label;
    if (w.special[i]) {
      in_word = false;
      continue;
    }
    const auto block = rng(epoch, index, high + static_cast<std::uint32_t>(i));
    const float u0 = philox_rng::to_unit_float(block[0]);
    bool chosen = u0 < select;
    if (o.whole_word) {
      // A piece that continues an eligible word follows its first piece.
      if (w.word_start[i] || !in_word) word_selected = chosen;
      chosen = word_selected;
      in_word = true;
    }
    if (!chosen) continue;
    ++selected;
    w.labels[i] = w.ids[i];
    const float u1 = philox_rng::to_unit_float(block[1]);
    if (u1 < mask) {
      w.ids[i] = v.mask_id;
    } else if (u1 < keep_above) {
      const std::uint64_t product = std::uint64_t{block[2]} * v.replacements.size();
      w.ids[i] = v.replacements[static_cast<std::size_t>(product >> 32)];
    }
  }
  return selected;
}

}  // namespace autodidact::objectives
