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
// set up by the constructor; generate() allocates nothing (with a
// callback that does not). Threads: one generator per thread over one const
// model; the model's packed weights must be fresh (pack_weights()) before
// threads share it, else every product packs on the fly (correct, slower).
//
// Storage (models/storage.hpp), the second template argument: the cache,
// the decoding workspace and every buffer of the generator are
//   heap_arenas (default)    allocated by the constructor:
//                              generator gen(model, max_batch, max_length, prefill_chunk);
//   borrowed_arenas          in one caller block of bytes_for(max_batch,
//                            max_length, prefill_chunk) bytes:
//                              generator<M, borrowed_arenas> gen(model, memory, b, n, chunk);
//   static_arenas<B, N>      inside the object, for B sequences of up to N
//                            tokens and prompts fed PrefillChunk tokens at a
//                            time (the third template argument); sizeof is
//                            the budget, a constant to static_assert:
//                              static generator<M, static_arenas<1, 256>> gen(model);
// With a model in static storage too (decoder<..., static_arenas<1, 1,
// with_packed_weights>>), a whole embedded program has no heap after
// start-up (examples/05_generation.cpp, docs/embedded.md).

#include <algorithm>    // for std::min, std::fill_n, std::copy
#include <concepts>     // for std::same_as
#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::int32_t, std::uint8_t, std::uint32_t
#include <span>         // for std::span
#include <type_traits>  // for std::is_invocable_r_v, std::invoke_result_t
#include <utility>      // for std::forward

#include "autodidact/core/arena.hpp"                // for arena
#include "autodidact/core/error.hpp"                // for require
#include "autodidact/inference/cached_forward.hpp"  // for cached_forward, decode_workspace
#include "autodidact/inference/kv_cache.hpp"        // for kv_cache
#include "autodidact/inference/sampling.hpp"        // for sampling_options, next_token
#include "autodidact/models/memory_plan.hpp"        // for training_policy, aligned_bytes
#include "autodidact/models/storage.hpp"            // for heap_arenas, borrowed_arenas, static_arenas

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

namespace detail {
// Elements of a generator's own buffers for max_batch x max_length with
// prompts fed `chunk` tokens at a time (chunk <= max_length).
struct generator_buffers {
  std::size_t tokens, ints, seen, scratch, reasons, per_sequence;
};
template <int V>
constexpr generator_buffers generator_buffer_elements(int max_batch, int max_length, int chunk) {
  const std::size_t b = static_cast<std::size_t>(max_batch);
  return {b * static_cast<std::size_t>(max_length),           // tokens [B, max_length]
          b * (3 + static_cast<std::size_t>(chunk)) + V,        // count [B], row tokens [B·chunk], order [V]
          b * static_cast<std::size_t>(V),                    // seen [B, V]
          2 * static_cast<std::size_t>(V),                    // scores, probs [V]
          b,                                                  // reasons [B]
          3 * b};                                             // prompt, length, limit [B]
}
// Byte offsets of the buffers in one 64-byte-aligned block, and its size.
struct generator_buffer_offsets {
  std::size_t tokens, ints, seen, scratch, reasons, per_sequence, bytes;
};
template <int V>
constexpr generator_buffer_offsets generator_buffer_layout(int max_batch, int max_length, int chunk) {
  const generator_buffers e = generator_buffer_elements<V>(max_batch, max_length, chunk);
  generator_buffer_offsets o{};
  std::size_t at = 0;
  auto next = [&at](std::size_t bytes) {
    const std::size_t here = at;
    at += models::aligned_bytes(bytes);
    return here;
  };
  o.tokens = next(e.tokens * sizeof(std::int32_t));
  o.ints = next(e.ints * sizeof(std::int32_t));
  o.seen = next(e.seen * sizeof(std::uint8_t));
  o.scratch = next(e.scratch * sizeof(double));
  o.reasons = next(e.reasons * sizeof(finish_reason));
  o.per_sequence = next(e.per_sequence * sizeof(int));
  o.bytes = at;
  return o;
}
}  // namespace detail

// The default prefill chunk (tokens of each prompt per cached_forward call).
inline constexpr int default_prefill_chunk = 64;

template <class Model, models::arena_storage_policy Storage = heap_arenas, int PrefillChunk = default_prefill_chunk>
class generator {
  static_assert(PrefillChunk >= 1, "autodidact: generator<Model, Storage, PrefillChunk> needs PrefillChunk >= 1.");

 public:
  using model_type = Model;
  using T = typename Model::T;
  using storage_policy = Storage;
  static constexpr model_config config = Model::config;
  static constexpr int max_stop_tokens = 16;

 private:
  // static_arenas<B, N>: the cache holds B x N, the workspace B x
  // min(PrefillChunk, N) rows.
  static constexpr int static_batch = models::detail::static_extent<Storage>::max_batch;
  static constexpr int static_length = models::detail::static_extent<Storage>::max_seq;
  static constexpr int static_chunk = PrefillChunk < static_length ? PrefillChunk : static_length;
  using cache_storage =
      std::conditional_t<models::is_static_arenas_v<Storage>, static_arenas<static_batch, static_length>, Storage>;
  using workspace_storage =
      std::conditional_t<models::is_static_arenas_v<Storage>, static_arenas<static_batch, static_chunk>, Storage>;
  static constexpr detail::generator_buffers static_elements =
      detail::generator_buffer_elements<config.vocab>(static_batch, static_length, static_chunk);
  template <class E, std::size_t N>
  using buffer = models::detail::policy_arena<E, Storage, N>;

 public:
  using cache_type = kv_cache<config, T, cache_storage>;
  using workspace_type = decode_workspace<config, T, workspace_storage>;

  // Bytes of everything a generator for max_batch x max_length (prefill
  // chunk `prefill_chunk`) holds: cache, workspace, buffers. What
  // borrowed_arenas needs, and about sizeof a static_arenas generator.
  static constexpr std::size_t bytes_for(int max_batch, int max_length, int prefill_chunk = PrefillChunk) {
    const int chunk = prefill_chunk < max_length ? prefill_chunk : max_length;
    return cache_type::bytes_for(max_batch, max_length) + workspace_type::bytes_for(max_batch, chunk) +
           detail::generator_buffer_layout<config.vocab>(max_batch, max_length, chunk).bytes;
  }

  // Room for max_batch sequences of up to max_length tokens each (prompt +
  // generated, <= the config's max_positions); prompts go through the
  // model prefill_chunk tokens per sequence at a time. With
  // static_arenas<B, N>: max_batch <= B, max_length <= N, prefill_chunk <=
  // PrefillChunk.
  generator(const Model& model, int max_batch, int max_length, int prefill_chunk = PrefillChunk)
    requires(!std::same_as<Storage, borrowed_arenas>)
      : model_(model),
        cache_(max_batch, max_length),
        ws_(max_batch, std::min(checked_chunk(prefill_chunk, max_length), max_length)),
        chunk_(std::min(prefill_chunk, max_length)),
        tokens_(owned<std::int32_t, static_elements.tokens>(elements(max_batch, max_length, chunk_).tokens)),
        ints_(owned<std::int32_t, static_elements.ints>(elements(max_batch, max_length, chunk_).ints)),
        seen_(owned<std::uint8_t, static_elements.seen>(elements(max_batch, max_length, chunk_).seen)),
        scratch_(owned<double, static_elements.scratch>(elements(max_batch, max_length, chunk_).scratch)),
        reasons_(owned<finish_reason, static_elements.reasons>(elements(max_batch, max_length, chunk_).reasons)),
        per_sequence_(owned<int, static_elements.per_sequence>(elements(max_batch, max_length, chunk_).per_sequence)) {}
  // static_arenas<B, N>: B sequences of up to N tokens, inside the object.
  explicit generator(const Model& model) requires models::is_static_arenas_v<Storage>
      : generator(model, static_batch, static_length, static_chunk) {}
  // borrowed_arenas: cache, workspace and buffers in `memory`
  // (bytes_for(max_batch, max_length, prefill_chunk) bytes from a 64-byte
  // boundary, else an invalid_argument naming both), which the caller
  // keeps alive as long as the generator.
  generator(const Model& model, std::span<std::byte> memory, int max_batch, int max_length,
            int prefill_chunk = PrefillChunk)
    requires std::same_as<Storage, borrowed_arenas>
      : model_(model),
        cache_(checked_block(memory, max_batch, max_length, prefill_chunk), max_batch, max_length),
        ws_(memory.subspan(cache_type::bytes_for(max_batch, max_length)), max_batch,
            std::min(prefill_chunk, max_length)),
        chunk_(std::min(prefill_chunk, max_length)),
        tokens_(carve<std::int32_t>(memory, &detail::generator_buffer_offsets::tokens, &detail::generator_buffers::tokens)),
        ints_(carve<std::int32_t>(memory, &detail::generator_buffer_offsets::ints, &detail::generator_buffers::ints)),
        seen_(carve<std::uint8_t>(memory, &detail::generator_buffer_offsets::seen, &detail::generator_buffers::seen)),
        scratch_(carve<double>(memory, &detail::generator_buffer_offsets::scratch, &detail::generator_buffers::scratch)),
        reasons_(carve<finish_reason>(memory, &detail::generator_buffer_offsets::reasons,
                                      &detail::generator_buffers::reasons)),
        per_sequence_(carve<int>(memory, &detail::generator_buffer_offsets::per_sequence,
                                 &detail::generator_buffers::per_sequence)) {}

  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;

  int max_batch() const noexcept { return cache_.max_batch(); }
  int max_length() const noexcept { return cache_.max_length(); }
  int prefill_chunk() const noexcept { return chunk_; }
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
    if constexpr (models::is_static_arenas_v<Storage>)
      require(std::min(chunk, max_length) <= static_chunk, "generator (static_arenas<", static_batch, ", ",
              static_length, ">, PrefillChunk = ", PrefillChunk, "): prefill_chunk = ", chunk,
              " exceeds the ", static_chunk, " rows its workspace was sized for");
    return std::min(chunk, max_length);
  }
  static detail::generator_buffers elements(int max_batch, int max_length, int chunk) {
    // Sizes are checked by the cache and the workspace (constructed first).
    return detail::generator_buffer_elements<config.vocab>(max_batch, max_length, chunk);
  }
  template <class E, std::size_t N>
  static buffer<E, N> owned(std::size_t count) {
    return models::detail::owned_arena<buffer<E, N>>(count, "generator: buffers");
  }
  // borrowed_arenas: checks the whole block (before anything is carved).
  static std::span<std::byte> checked_block(std::span<std::byte> memory, int max_batch, int max_length,
                                            int prefill_chunk) {
    require(max_batch >= 1, "generator: max_batch = ", max_batch, " must be at least 1");
    require(max_length >= 1 && max_length <= config.max_positions, "generator: max_length = ", max_length,
            " must be in [1, max_positions = ", config.max_positions, "]");
    checked_chunk(prefill_chunk, max_length);
    models::detail::check_borrowed_memory(memory, bytes_for(max_batch, max_length, prefill_chunk), "generator",
                                          max_batch, max_length, "max_length");
    return memory.first(cache_type::bytes_for(max_batch, max_length));
  }
  // borrowed_arenas: one buffer, after the cache and the workspace.
  template <class E>
  auto carve(std::span<std::byte> memory, std::size_t detail::generator_buffer_offsets::*offset,
             std::size_t detail::generator_buffers::*count) const {
    const int b = cache_.max_batch(), n = cache_.max_length();
    const std::size_t base = cache_type::bytes_for(b, n) + workspace_type::bytes_for(b, chunk_);
    const auto layout = detail::generator_buffer_layout<config.vocab>(b, n, chunk_);
    const auto e = detail::generator_buffer_elements<config.vocab>(b, n, chunk_);
    auto a = models::detail::borrowed_arena<E>(memory, base + layout.*offset, e.*count);
    a.zero();
    return a;
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
  cache_type cache_;
  workspace_type ws_;
  int chunk_;
  buffer<std::int32_t, static_elements.tokens> tokens_;         // [B, max_length] prompt + generated
  buffer<std::int32_t, static_elements.ints> ints_;             // count [B], row tokens [B·chunk], order [V]
  buffer<std::uint8_t, static_elements.seen> seen_;             // [B, V] ids present in each sequence
  buffer<double, static_elements.scratch> scratch_;             // scores, probs [V]
  buffer<finish_reason, static_elements.reasons> reasons_;      // [B]
  buffer<int, static_elements.per_sequence> per_sequence_;      // prompt, length, limit [B]
  int* prompt_ = per_sequence_.data();                          // [B] prompt lengths
  int* length_ = per_sequence_.data() + cache_.max_batch();     // [B] prompt + generated so far
  int* limit_ = per_sequence_.data() + 2 * cache_.max_batch();  // [B] the most tokens it may reach
  int batch_ = 0, stop_count_ = 0;
  std::int32_t stops_[max_stop_tokens] = {};
};

}  // namespace autodidact::inference
