#pragma once
// kv_cache<Config, T, Storage>: the keys and values a decoder's attention
// has seen, for B sequences of up to max_length positions each, one K and
// one V per layer, all in place at construction (no allocation after).
//
// Where the memory is, is the storage policy (models/storage.hpp):
//   kv_cache<C, T> cache(max_batch, max_length);           heap_arenas (default)
//   kv_cache<C, T, borrowed_arenas> cache(memory, b, n);   a caller block of
//                                                          bytes_for(b, n) bytes
//   static kv_cache<C, T, static_arenas<B, N>> cache;      inside the object:
//                                                          sizeof is the budget
// bytes_for(max_batch, max_length) is a constant expression either way.
//
//   K, V of layer l   [B, max_length, C]   (head h at channels h·D .. h·D + D)
//   length(b)         positions of sequence b held so far
//
// Positions are per sequence: sequence b's tokens sit at positions
// 0 .. length(b) - 1 of its own rows, with no padding anywhere, so a batch
// of prompts of different lengths needs no attention mask and no position
// shift (what Hugging Face's generate does with left padding, an attention
// mask and position_ids = cumsum(mask) - 1).
//
// One cache per generating thread; the model it serves stays const.

#include <algorithm>  // for std::fill
#include <concepts>   // for std::same_as
#include <cstddef>    // for std::byte, std::size_t, std::ptrdiff_t
#include <cstdint>    // for std::int32_t
#include <span>       // for std::span

#include "autodidact/config.hpp"          // for model_config
#include "autodidact/core/arena.hpp"      // for arena
#include "autodidact/core/error.hpp"      // for require
#include "autodidact/models/memory_plan.hpp"  // for models::aligned_bytes
#include "autodidact/models/storage.hpp"  // for heap_arenas, borrowed_arenas, static_arenas, policy_arena

namespace autodidact::inference {

using models::borrowed_arenas;
using models::heap_arenas;
using models::static_arenas;
using models::with_packed_weights;

namespace detail {
// Elements of K and V: 2 · L · B · N · C.
template <model_config C>
constexpr std::size_t kv_elements(int max_batch, int max_length) {
  return 2 * static_cast<std::size_t>(C.layers) * static_cast<std::size_t>(max_batch) *
         static_cast<std::size_t>(max_length) * static_cast<std::size_t>(C.d_model);
}
}  // namespace detail

template <model_config C, class T, models::arena_storage_policy Storage = heap_arenas>
class kv_cache {
  static_assert(C.layers >= 1, "autodidact: a KV cache needs a model with at least one layer.");
  static_assert(models::detail::static_extent<Storage>::max_seq <= C.max_positions,
                "autodidact: kv_cache<C, T, static_arenas<B, N>> needs N <= the config's max_positions.");

 public:
  using value_type = T;
  using storage_policy = Storage;

  // Elements of K and V, and bytes of the whole cache (K, V and the
  // lengths, each block 64-byte aligned), for max_batch x max_length:
  // what borrowed_arenas needs; about sizeof a static_arenas cache.
  static constexpr std::size_t elements_for(int max_batch, int max_length) {
    return detail::kv_elements<C>(max_batch, max_length);
  }
  static constexpr std::size_t bytes_for(int max_batch, int max_length) {
    return models::aligned_bytes(elements_for(max_batch, max_length) * sizeof(T)) +
           models::aligned_bytes(static_cast<std::size_t>(max_batch) * sizeof(std::int32_t));
  }

  // Room for max_batch sequences of up to max_length positions
  // (1 <= max_length <= the config's max_positions); with static_arenas<B,
  // N>, max_batch <= B and max_length <= N.
  kv_cache(int max_batch, int max_length) requires(!std::same_as<Storage, borrowed_arenas>)
      : max_batch_(checked_batch(max_batch)),
        max_length_(checked_length(max_length)),
        data_(models::detail::owned_arena<data_arena>(elements_for(max_batch, max_length), "kv_cache: K and V")),
        lengths_(models::detail::owned_arena<length_arena>(static_cast<std::size_t>(max_batch),
                                                           "kv_cache: lengths")) {
    reset();
  }
  // static_arenas<B, N>: B sequences of up to N positions, inside the object.
  kv_cache() requires models::is_static_arenas_v<Storage> : kv_cache(Storage::max_batch, Storage::max_seq) {}
  // borrowed_arenas: K, V and the lengths in `memory` (bytes_for(max_batch,
  // max_length) bytes from a 64-byte boundary, else an invalid_argument
  // naming both), which the caller keeps alive as long as the cache.
  kv_cache(std::span<std::byte> memory, int max_batch, int max_length)
    requires std::same_as<Storage, borrowed_arenas>
      : max_batch_(checked_batch(max_batch)),
        max_length_(checked_length(max_length)),
        data_(borrowed_data(memory, max_batch, max_length)),
        lengths_(models::detail::borrowed_arena<std::int32_t>(
            memory, models::aligned_bytes(elements_for(max_batch, max_length) * sizeof(T)),
            static_cast<std::size_t>(max_batch))) {
    std::fill(data_.data(), data_.data() + elements_for(max_batch, max_length), T(0));
    reset();
  }
  kv_cache(const kv_cache&) = delete;
  kv_cache& operator=(const kv_cache&) = delete;

  int max_batch() const noexcept { return max_batch_; }
  int max_length() const noexcept { return max_length_; }
  // Bytes of K and V: 2 · L · B · max_length · C · sizeof(T) (with
  // static_arenas, of the whole block inside the object).
  std::size_t bytes() const noexcept { return data_.size() * sizeof(T); }

  // Forgets every sequence (lengths 0); the memory stays.
  void reset() noexcept { std::fill(lengths_.data(), lengths_.data() + max_batch_, 0); }

  int length(int b) const noexcept { return lengths_.data()[b]; }
  void set_length(int b, int n) {
    require(b >= 0 && b < max_batch_, "kv_cache: sequence ", b, " outside [0, max_batch = ", max_batch_, ")");
    require(n >= 0 && n <= max_length_, "kv_cache: length ", n, " of sequence ", b, " outside [0, max_length = ",
            max_length_, "]");
    lengths_.data()[b] = n;
  }

  // Row `position` of sequence b's keys / values in layer l [C]; rows of
  // one sequence are C apart (keys_row(l, b, 0) with leading dimension C).
  T* keys(int l, int b, int position = 0) noexcept { return data_.data() + offset(l, b, position, 0); }
  T* values(int l, int b, int position = 0) noexcept { return data_.data() + offset(l, b, position, 1); }
  const T* keys(int l, int b, int position = 0) const noexcept { return data_.data() + offset(l, b, position, 0); }
  const T* values(int l, int b, int position = 0) const noexcept {
    return data_.data() + offset(l, b, position, 1);
  }

 private:
  static int checked_batch(int b) {
    require(b >= 1, "kv_cache: max_batch = ", b, " must be at least 1");
    return b;
  }
  int checked_length(int n) const {
    require(n >= 1 && n <= C.max_positions, "kv_cache: max_length = ", n, " must be in [1, max_positions = ",
            C.max_positions, "]");
    models::detail::check_static_extent<Storage>("kv_cache", "max_length", max_batch_, n);
    return n;
  }
  static auto borrowed_data(std::span<std::byte> memory, int max_batch, int max_length) {
    models::detail::check_borrowed_memory(memory, bytes_for(max_batch, max_length), "kv_cache", max_batch,
                                          max_length, "max_length");
    return models::detail::borrowed_arena<T>(memory, 0, elements_for(max_batch, max_length));
  }
  static constexpr std::size_t layer_elements(int b, int n) {
    return static_cast<std::size_t>(b) * static_cast<std::size_t>(n) * static_cast<std::size_t>(C.d_model);
  }
  // Layer l's K then V, each [B, max_length, C].
  std::size_t offset(int l, int b, int position, int kv) const noexcept {
    const std::size_t per = layer_elements(max_batch_, max_length_);
    return (2 * static_cast<std::size_t>(l) + static_cast<std::size_t>(kv)) * per +
           (static_cast<std::size_t>(b) * static_cast<std::size_t>(max_length_) + static_cast<std::size_t>(position)) *
               static_cast<std::size_t>(C.d_model);
  }

  static constexpr int static_batch = models::detail::static_extent<Storage>::max_batch;
  static constexpr int static_length = models::detail::static_extent<Storage>::max_seq;
  using data_arena = models::detail::policy_arena<T, Storage, detail::kv_elements<C>(static_batch, static_length)>;
  using length_arena = models::detail::policy_arena<std::int32_t, Storage, std::size_t(static_batch)>;

  int max_batch_, max_length_;
  data_arena data_;      // [L, 2, B, max_length, C]
  length_arena lengths_;  // [B]
};

}  // namespace autodidact::inference
