#pragma once
// kv_cache<Config, T>: the keys and values a decoder's attention has seen,
// for B sequences of up to max_length positions each, one K and one V per
// layer, all allocated at construction (no allocation after).
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
#include <cstddef>    // for std::size_t, std::ptrdiff_t
#include <cstdint>    // for std::int32_t

#include "autodidact/config.hpp"      // for model_config
#include "autodidact/core/arena.hpp"  // for arena
#include "autodidact/core/error.hpp"  // for require

namespace autodidact::inference {

template <model_config C, class T>
class kv_cache {
  static_assert(C.layers >= 1, "autodidact: a KV cache needs a model with at least one layer.");

 public:
  using value_type = T;

  // Room for max_batch sequences of up to max_length positions
  // (1 <= max_length <= the config's max_positions).
  kv_cache(int max_batch, int max_length)
      : max_batch_(checked_batch(max_batch)),
        max_length_(checked_length(max_length)),
        data_(2 * static_cast<std::size_t>(C.layers) * layer_elements(max_batch, max_length)),
        lengths_(static_cast<std::size_t>(max_batch)) {
    reset();
  }

  int max_batch() const noexcept { return max_batch_; }
  int max_length() const noexcept { return max_length_; }
  // Bytes of K and V: 2 · L · B · max_length · C · sizeof(T).
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
  static int checked_length(int n) {
    require(n >= 1 && n <= C.max_positions, "kv_cache: max_length = ", n, " must be in [1, max_positions = ",
            C.max_positions, "]");
    return n;
  }
  static std::size_t layer_elements(int b, int n) {
    return static_cast<std::size_t>(b) * static_cast<std::size_t>(n) * static_cast<std::size_t>(C.d_model);
  }
  // Layer l's K then V, each [B, max_length, C].
  std::size_t offset(int l, int b, int position, int kv) const noexcept {
    const std::size_t per = layer_elements(max_batch_, max_length_);
    return (2 * static_cast<std::size_t>(l) + static_cast<std::size_t>(kv)) * per +
           (static_cast<std::size_t>(b) * static_cast<std::size_t>(max_length_) + static_cast<std::size_t>(position)) *
               static_cast<std::size_t>(C.d_model);
  }

  int max_batch_, max_length_;
  arena<T> data_;               // [L, 2, B, max_length, C]
  arena<std::int32_t> lengths_;  // [B]
};

}  // namespace autodidact::inference
