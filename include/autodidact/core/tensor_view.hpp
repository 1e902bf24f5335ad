#pragma once
// Borrowed, row-major tensor views. Extents are run-time ints (batch and
// sequence length are run-time values); the model's static extents come
// from its config and are checked where a view is made.

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span
#include <string>   // for std::string, std::to_string

#include "autodidact/core/error.hpp"  // for autodidact::require, shape_error

namespace autodidact {

template <class T, int Rank>
class tensor_view {
  static_assert(Rank >= 1 && Rank <= 4, "autodidact: tensor_view supports ranks 1 to 4.");

 public:
  using value_type = T;
  static constexpr int rank = Rank;

  constexpr tensor_view() = default;
  constexpr tensor_view(T* data, std::array<int, Rank> shape) : data_(data), shape_(shape) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr int extent(int i) const noexcept { return shape_[i]; }
  constexpr const std::array<int, Rank>& shape() const noexcept { return shape_; }
  constexpr std::size_t size() const noexcept {
    std::size_t n = 1;
    for (int e : shape_) n *= static_cast<std::size_t>(e);
    return n;
  }
  constexpr std::span<T> span() const noexcept { return {data_, size()}; }

  template <class... I>
  constexpr T& operator()(I... index) const noexcept {
    static_assert(sizeof...(I) == Rank, "autodidact: tensor_view needs one index per dimension.");
    const int idx[] = {static_cast<int>(index)...};
    std::size_t offset = 0;
    for (int d = 0; d < Rank; ++d) offset = offset * static_cast<std::size_t>(shape_[d]) + idx[d];
    return data_[offset];
  }

  // The sub-view at the first index (rank − 1).
  constexpr tensor_view<T, Rank - 1> operator[](int i) const noexcept requires(Rank > 1) {
    std::array<int, Rank - 1> sub{};
    for (int d = 1; d < Rank; ++d) sub[d - 1] = shape_[d];
    return {data_ + static_cast<std::size_t>(i) * (size() / static_cast<std::size_t>(shape_[0])), sub};
  }

  // Checks the view's shape against an expectation; names `what` if not.
  void expect_shape(const std::array<int, Rank>& expected, const char* what) const {
    if (expected != shape_) {
      raise<shape_error>(what, ": expected shape ", format(expected), ", got ", format(shape_));
    }
  }

  static std::string format(const std::array<int, Rank>& s) {
    std::string out = "[";
    for (int d = 0; d < Rank; ++d) out += (d ? ", " : "") + std::to_string(s[d]);
    return out + "]";
  }

 private:
  T* data_ = nullptr;
  std::array<int, Rank> shape_{};
};

}  // namespace autodidact
