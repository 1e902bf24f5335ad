#pragma once
// generator<Model>: autoregressive decoding for a decoder<> (GPT-2 style)
// with a preallocated KV cache.
//
//   const models::decoder<cfg, f32, inference::generation_policy> model(...);
//   model.pack_weights();                        // before sharing it
//   inference::generator gen(model, /*max_batch=*/2, /*max_length=*/160);
//   std::array<std::span<const std::int32_t>, 2> prompts{a, b};
//   gen.generate(prompts, {.max_new_tokens = 64, .sampling = {.do_sample = true, .top_p = 0.9, .seed = 7},
//                          .stop_tokens = eos},
//                [](int seq, std::int32_t token) { print(seq, token); });
//   gen.sequence(0);                             // prompt + generated ids
//
// What it does: the prompts go through cached_forward (cached_forward.hpp)
// in chunks of prefill_chunk tokens per sequence; as soon as a sequence's
// prompt is in, its first token is chosen (sampling.hpp) and streamed to
// the callback; then every step feeds each unfinished sequence's last token
// (one row each) and chooses the next. A sequence stops at a stop token
// (which is emitted), after max_new_tokens, when prompt + generated reaches
// the cache's max_length, or when the callback returns false.
//
// Batched prompts of different lengths: each sequence has its own
// positions (0 .. its length − 1) and its own rows of the cache; there is
// no padding. This equals Hugging Face generate with left padding and an
// attention mask (HF derives position_ids from the mask).
//
// Memory: the model's weights (shared, read only), the cache
// (kv_cache::bytes) and this generator's buffers (workspace_bytes), all
// allocated by the constructor; generate() allocates nothing (with a
// callback that does not). Threads: one generator per thread over one const
// model; the model's packed weights must be fresh (pack_weights()) before
// threads share it, else every product packs on the fly (correct, slower).

#include <algorithm>    // for std::min, std::fill_n, std::copy
#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int32_t, std::uint8_t, std::uint32_t
#include <span>         // for std::span
#include <type_traits>  // for std::is_invocable_r_v, std::invoke_result_t
#include <utility>      // for std::forward

#include "autodidact/core/arena.hpp"                // for arena
#include "autodidact/core/error.hpp"                // for require
#include "autodidact/inference/cached_forward.hpp"  // for cached_forward, decode_workspace
#include "autodidact/inference/kv_cache.hpp"        // for kv_cache
#include "autodidact/inference/sampling.hpp"        // for sampling_options, next_token
#include "autodidact/models/memory_plan.hpp"        // for training_policy

namespace autodidact::inference {

// A decoder policy for generation: no gradients or moments, but the LM head
// is part of the plan, so pack_weights() also packs the (tied) output matrix
// the head multiplies by every step.
inline constexpr models::training_policy generation_policy{
    .trainable = false, .optimizer_moments = 0, .pretraining_heads = true};

struct generation_options {
  int max_new_tokens = 32;                    // >= 0
  sampling_options sampling{};                // sampling.hpp
  std::span<const std::int32_t> stop_tokens{};  // ids that end a sequence (emitted); at most 16
};

enum class finish_reason : unsigned char { none, stop_token, max_new_tokens, max_length, callback };

template <class Model>
class generator {
 public:
  using model_type = Model;
  using T = typename Model::T;
  static constexpr model_config config = Model::config;
  static constexpr int max_stop_tokens = 16;

  // Room for max_batch sequences of up to max_length tokens each (prompt +
  // generated, <= the config's max_positions); prompts go through the
  // model prefill_chunk tokens per sequence at a time.
  generator(const Model& model, int max_batch, int max_length, int prefill_chunk = 64)
      : model_(model),
        cache_(max_batch, max_length),
        ws_(max_batch, std::min(prefill_chunk, max_length)),
        chunk_(checked_chunk(prefill_chunk, max_length)),
        tokens_(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(max_length)),
        ints_(static_cast<std::size_t>(max_batch) * (3 + static_cast<std::size_t>(chunk_)) + config.vocab),
        seen_(static_cast<std::size_t>(max_batch) * config.vocab),
        scratch_(2 * static_cast<std::size_t>(config.vocab)),
        reasons_(static_cast<std::size_t>(max_batch)) {}

  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;

  int max_batch() const noexcept { return cache_.max_batch(); }
  int max_length() const noexcept { return cache_.max_length(); }
  // Bytes of the KV cache, and of everything else this generator holds.
  std::size_t cache_bytes() const noexcept { return cache_.bytes(); }
  std::size_t workspace_bytes() const noexcept {
    return ws_.bytes() + tokens_.size() * 4 + ints_.size() * 4 + seen_.size() + scratch_.size() * 8 +
           reasons_.size() + per_sequence_.size() * sizeof(int);
  }

  // Generates for each prompt (1 <= batch <= max_batch prompts of 1 ..
  // max_length tokens). on_token(sequence, token) sees every generated
  // token as it is chosen; when it returns bool, false stops that sequence.
  template <class OnToken>
  void generate(std::span<const std::span<const std::int32_t>> prompts, const generation_options& o,
                OnToken&& on_token) {
    start(prompts, o);
    const int batch = batch_;
    // Prefill, chunk by chunk; each sequence's first token right after its last chunk.
    for (int offset = 0; any_prefill_left(offset); offset += chunk_) {
      int rows = 0;
      for (int b = 0; b < batch; ++b) {
        const int n = std::max(0, std::min(chunk_, prompt_[b] - offset));
        count()[b] = n;
        std::copy_n(seq_ptr(b) + offset, n, row_tokens() + rows);
        rows += n;
      }
      cached_forward(model_, cache_, ws_, {row_tokens(), static_cast<std::size_t>(rows)}, {count(), std::size_t(batch)});
      for (int b = 0; b < batch; ++b)
        if (count()[b] > 0 && offset + count()[b] == prompt_[b]) choose(b, o, on_token);
    }
    // Decoding: one row per unfinished sequence per step.
    for (;;) {
      int rows = 0;
      for (int b = 0; b < batch; ++b) {
        const bool active = reasons_.data()[b] == finish_reason::none;
        count()[b] = active ? 1 : 0;
        if (active) row_tokens()[rows++] = seq_ptr(b)[length_[b] - 1];
      }
      if (rows == 0) break;
      cached_forward(model_, cache_, ws_, {row_tokens(), static_cast<std::size_t>(rows)}, {count(), std::size_t(batch)});
      for (int b = 0; b < batch; ++b)
        if (count()[b] > 0) choose(b, o, on_token);
    }
  }
  void generate(std::span<const std::span<const std::int32_t>> prompts, const generation_options& o) {
    generate(prompts, o, [](int, std::int32_t) {});
  }

  // After generate(): sequence b's prompt + generated ids, the generated
  // ids alone, and why it stopped.
  int batch() const noexcept { return batch_; }
  std::span<const std::int32_t> sequence(int b) const { return {seq_ptr(checked(b)), std::size_t(length_[b])}; }
  std::span<const std::int32_t> generated(int b) const {
    return {seq_ptr(checked(b)) + prompt_[b], std::size_t(length_[b] - prompt_[b])};
  }
  finish_reason reason(int b) const { return reasons_.data()[checked(b)]; }

 private:
  static int checked_chunk(int chunk, int max_length) {
    require(chunk >= 1, "generator: prefill_chunk = ", chunk, " must be at least 1");
    return std::min(chunk, max_length);
  }
  int checked(int b) const {
    require(b >= 0 && b < batch_, "generator: sequence ", b, " outside [0, batch = ", batch_, ")");
    return b;
  }

  // Validates the call, copies the prompts, clears cache and state.
  void start(std::span<const std::span<const std::int32_t>> prompts, const generation_options& o) {
    constexpr int v = config.vocab;
    const int batch = static_cast<int>(prompts.size());
    require(batch >= 1 && batch <= max_batch(), "generate: ", batch, " prompts, expected 1 .. max_batch = ",
            max_batch());
    require(o.max_new_tokens >= 0, "generate: max_new_tokens = ", o.max_new_tokens, " must be >= 0");
    validate(o.sampling);
    require(o.stop_tokens.size() <= std::size_t(max_stop_tokens), "generate: ", o.stop_tokens.size(),
            " stop tokens, at most ", max_stop_tokens);
    for (std::size_t i = 0; i < o.stop_tokens.size(); ++i)
      require(o.stop_tokens[i] >= 0 && o.stop_tokens[i] < v, "generate: stop token ", o.stop_tokens[i],
              " (entry ", i, ") is outside the vocabulary [0, ", v, ")");
    for (int b = 0; b < batch; ++b) {
      const auto p = prompts[std::size_t(b)];
      require(!p.empty(), "generate: prompt ", b, " is empty (generation needs at least one token)");
      require(p.size() <= std::size_t(max_length()), "generate: prompt ", b, " has ", p.size(),
              " tokens, longer than the KV cache's max_length = ", max_length());
      for (std::size_t i = 0; i < p.size(); ++i)
        require(p[i] >= 0 && p[i] < v, "generate: token id ", p[i], " at position ", i, " of prompt ", b,
                " is outside the vocabulary [0, ", v, ")");
    }
    batch_ = batch;
    stop_count_ = static_cast<int>(o.stop_tokens.size());
    std::copy(o.stop_tokens.begin(), o.stop_tokens.end(), stops_);
    cache_.reset();
    std::fill_n(seen_.data(), seen_.size(), std::uint8_t{0});
    for (int b = 0; b < batch; ++b) {
      const auto p = prompts[std::size_t(b)];
      std::copy(p.begin(), p.end(), seq_ptr(b));
      prompt_[b] = length_[b] = static_cast<int>(p.size());
      for (const std::int32_t id : p) seen_.data()[std::size_t(b) * v + std::size_t(id)] = 1;
      limit_[b] = std::min(max_length(), prompt_[b] + o.max_new_tokens);
      // A prompt that already fills the cache gets no token.
      reasons_.data()[b] = o.max_new_tokens == 0      ? finish_reason::max_new_tokens
                           : prompt_[b] >= limit_[b] ? finish_reason::max_length
                                                     : finish_reason::none;
    }
  }

  bool any_prefill_left(int offset) const noexcept {
    for (int b = 0; b < batch_; ++b)
      if (offset < prompt_[b]) return true;
    return false;
  }

  // Chooses sequence b's next token from its logits, streams it, and
  // decides whether b is finished.
  template <class OnToken>
  void choose(int b, const generation_options& o, OnToken& on_token) {
    if (reasons_.data()[b] != finish_reason::none) return;
    constexpr int v = config.vocab;
    std::uint8_t* seen = seen_.data() + std::size_t(b) * v;
    const auto step = static_cast<std::uint32_t>(length_[b] - prompt_[b]);
    const std::int32_t token = next_token(v, ws_.logits(b), seen, o.sampling, step, static_cast<std::uint32_t>(b),
                                          scratch_.data(), scratch_.data() + v, order());
    seq_ptr(b)[length_[b]++] = token;
    seen[token] = 1;
    bool keep = true;
    if constexpr (std::is_same_v<std::invoke_result_t<OnToken&, int, std::int32_t>, bool>) {
      keep = on_token(b, token);
    } else {
      on_token(b, token);
    }
    finish_reason& r = reasons_.data()[b];
    for (int i = 0; i < stop_count_; ++i)
      if (stops_[i] == token) r = finish_reason::stop_token;
    if (r == finish_reason::none && !keep) r = finish_reason::callback;
    if (r == finish_reason::none && length_[b] >= limit_[b])
      r = length_[b] - prompt_[b] >= o.max_new_tokens ? finish_reason::max_new_tokens : finish_reason::max_length;
  }

  std::int32_t* seq_ptr(int b) noexcept { return tokens_.data() + std::size_t(b) * max_length(); }
  const std::int32_t* seq_ptr(int b) const noexcept { return tokens_.data() + std::size_t(b) * max_length(); }
  // ints_: count [B], row tokens [B·chunk], order [V].
  std::int32_t* count() noexcept { return ints_.data(); }
  std::int32_t* row_tokens() noexcept { return ints_.data() + max_batch(); }
  std::int32_t* order() noexcept { return row_tokens() + std::size_t(max_batch()) * chunk_; }

  const Model& model_;
  kv_cache<config, T> cache_;
  decode_workspace<config, T> ws_;
  int chunk_;
  arena<std::int32_t> tokens_;  // [B, max_length] prompt + generated
  arena<std::int32_t> ints_;    // count [B], row tokens [B·chunk], order [V] (+ room)
  arena<std::uint8_t> seen_;    // [B, V] ids present in each sequence
  arena<double> scratch_;       // scores, probs [V]
  arena<finish_reason> reasons_;  // [B]
  arena<int> per_sequence_{3 * static_cast<std::size_t>(cache_.max_batch())};
  int* prompt_ = per_sequence_.data();                        // [B] prompt lengths
  int* length_ = per_sequence_.data() + cache_.max_batch();   // [B] prompt + generated so far
  int* limit_ = per_sequence_.data() + 2 * cache_.max_batch();  // [B] the most tokens it may reach
  int batch_ = 0, stop_count_ = 0;
  std::int32_t stops_[max_stop_tokens] = {};
};

}  // namespace autodidact::inference
