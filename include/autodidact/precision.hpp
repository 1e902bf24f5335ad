#pragma once
// The precision policy: how weights are stored, what type arithmetic runs in
// and what type sums accumulate in.

#include <concepts>  // for std::floating_point
#include <cstdint>   // for std::uint16_t, std::int8_t

namespace autodidact {

// bfloat16 storage: the upper 16 bits of an IEEE float. Declared now so the
// inference work ([embedded]) fits; arithmetic converts to float.
struct bf16 {
  std::uint16_t bits = 0;
};

// Blocks of int8 weights sharing one float scale (symmetric quantization).
template <int BlockSize>
struct int8_block {
  static_assert(BlockSize > 0, "autodidact: int8_block needs a positive block size.");
  static constexpr int block_size = BlockSize;
  float scale;
  std::int8_t values[BlockSize];
};

template <class Storage, class Compute, class Accum>
struct precision {
  static_assert(std::floating_point<Compute>,
                "autodidact: a precision's compute type must be a floating-point type.");
  static_assert(std::floating_point<Accum>,
                "autodidact: a precision's accumulation type must be a floating-point type.");
  using storage_type = Storage;
  using compute_type = Compute;
  using accum_type = Accum;
};

using f32 = precision<float, float, float>;             // training and inference
using f64 = precision<double, double, double>;          // gradient checks, golden tests
using bf16w = precision<bf16, float, float>;            // bf16 weights, float math (declared)
using int8w = precision<int8_block<32>, float, float>;  // int8 weights (declared)

template <class P>
concept precision_policy = requires {
  typename P::storage_type;
  typename P::compute_type;
  typename P::accum_type;
};

// Precisions whose storage is the compute type: everything trainable today.
template <class P>
concept plain_precision =
    precision_policy<P> && std::same_as<typename P::storage_type, typename P::compute_type>;

}  // namespace autodidact
