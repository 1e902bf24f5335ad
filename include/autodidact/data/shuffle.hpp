#pragma once
// Shuffling a stream of any length in bounded memory, and splitting it into
// shards. The shuffle buffer holds K elements: it fills with the first K,
// then each step hands out a uniformly chosen slot and refills that slot
// from the stream; when the stream ends, the rest drain in random order.
// An element moves at most about K places forward on average, so K trades
// memory for randomness (K = 0 or 1: the stream's own order).
//
//   auto shuffled = windows | data::views::shuffle(1024, seed, epoch);
//   auto mine = shuffled | data::views::shard(rank, world_size);   // elements rank, rank + n, ...
//
// The draws come from philox_rng(seed, rng_stream::shuffle) with counter
// (step = epoch, index = step of the shuffle), so the order is a pure
// function of (seed, epoch, the stream): no state to save, the same order
// after a resume, a new order each epoch.

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::uint32_t, std::uint64_t
#include <type_traits>  // for std::remove_cvref_t
#include <utility>      // for std::move, std::swap
#include <vector>       // for std::vector

#include <range/v3/range/access.hpp>    // for ranges::begin, ranges::end
#include <range/v3/range/concepts.hpp>  // for ranges::input_range
#include <range/v3/range/traits.hpp>    // for ranges::iterator_t, ranges::range_value_t
#include <range/v3/view/all.hpp>        // for ranges::views::all, ranges::views::all_t
#include <range/v3/view/drop.hpp>       // for ranges::views::drop
#include <range/v3/view/stride.hpp>     // for ranges::views::stride
#include <range/v3/view/view.hpp>       // for ranges::make_view_closure

#include "autodidact/core/error.hpp"                  // for autodidact::require, invalid_argument
#include "autodidact/core/rng.hpp"                    // for philox_rng, rng_stream
#include "autodidact/data/detail/generator_view.hpp"  // for detail::generator_view

namespace autodidact::data {

// Which slot of a buffer of `size` elements the shuffle's step `step`
// hands out: uniform in [0, size), a pure function of (seed, epoch, step).
struct philox_slot_chooser {
  philox_rng rng;
  std::uint32_t epoch = 0;
  explicit philox_slot_chooser(std::uint64_t seed, std::uint64_t epoch_number)
      : rng(seed, rng_stream::shuffle), epoch(static_cast<std::uint32_t>(epoch_number)) {}
  std::size_t operator()(std::uint64_t step, std::size_t size) const noexcept {
    return rng.below(static_cast<std::uint32_t>(size), epoch, static_cast<std::uint32_t>(step),
                     static_cast<std::uint32_t>(step >> 32));
  }
};

// The source behind views::shuffle. Chooser maps (step, size) to a slot;
// tests substitute a biased one to show the statistics test can fail.
template <class Rng, class Chooser = philox_slot_chooser>
class shuffle_buffer {
  static_assert(ranges::input_range<Rng>, "data::shuffle_buffer needs an input range.");

 public:
  using value_type = std::remove_cvref_t<ranges::range_value_t<Rng>>;

  shuffle_buffer(Rng base, std::size_t capacity, Chooser chooser)
      : base_(std::move(base)), capacity_(capacity < 1 ? 1 : capacity), chooser_(std::move(chooser)) {
    require<invalid_argument>(capacity_ <= (std::size_t{1} << 32) - 1, "data: shuffle buffer of ", capacity,
                              " elements: expected at most 2^32 - 1");
  }

  void advance() {
    if (!begun_) {
      begun_ = true;
      it_ = ranges::begin(base_);
      slots_.reserve(capacity_ < 4096 ? capacity_ : 4096);
      while (size_ < capacity_ && pull(size_)) ++size_;  // fill
    }
    if (size_ == 0) {
      done_ = true;
      return;
    }
    const std::size_t j = capacity_ == 1 ? 0 : chooser_(step_++, size_);
    std::swap(out_, slots_[j]);  // hand out slot j; its buffers now hold the previous output
    if (!pull(j)) {              // the stream ended: the last slot fills the hole
      --size_;
      if (j != size_) std::swap(slots_[j], slots_[size_]);
    }
  }
  bool done() const noexcept { return done_; }
  const value_type& value() const noexcept { return out_; }

  std::size_t capacity() const noexcept { return capacity_; }

 private:
  // Copies the stream's next element into slot j; false at the end.
  bool pull(std::size_t j) {
    if (upstream_done_ || it_ == ranges::end(base_)) {
      upstream_done_ = true;
      return false;
    }
    if (j == slots_.size()) slots_.emplace_back();
    slots_[j] = *it_;  // copy-assignment: reuses the slot's buffers
    ++it_;
    return true;
  }

  Rng base_;
  std::size_t capacity_;
  Chooser chooser_;
  ranges::iterator_t<Rng> it_{};
  bool begun_ = false;
  bool upstream_done_ = false;
  bool done_ = false;
  std::vector<value_type> slots_;  // [K]; [0, size_) hold elements
  std::size_t size_ = 0;
  std::uint64_t step_ = 0;
  value_type out_{};
};

namespace views {
// A bounded shuffle of `buffer` elements keyed by (seed, epoch); 0 or 1: no shuffle.
template <class Chooser = philox_slot_chooser>
auto shuffle(std::size_t buffer, Chooser chooser) {
  return ranges::make_view_closure([buffer, chooser](auto&& rng) {
    using base = ranges::views::all_t<decltype(rng)>;
    return detail::make_generator_view<shuffle_buffer<base, Chooser>>(
        ranges::views::all(static_cast<decltype(rng)&&>(rng)), buffer, chooser);
  });
}
inline auto shuffle(std::size_t buffer, std::uint64_t seed, std::uint64_t epoch) {
  return shuffle(buffer, philox_slot_chooser(seed, epoch));
}

// Shard k of n: the elements k, k + n, k + 2n, ... of the stream (each
// shard still reads the whole stream: n shards cost n times the reading).
inline auto shard(std::size_t k, std::size_t n) {
  require<invalid_argument>(n >= 1, "data: shard count n = 0: expected n >= 1");
  require<invalid_argument>(k < n, "data: shard k = ", k, " of n = ", n, ": expected 0 <= k < n");
  return ranges::views::drop(static_cast<std::ptrdiff_t>(k)) |
         ranges::views::stride(static_cast<std::ptrdiff_t>(n));
}
}  // namespace views

}  // namespace autodidact::data
