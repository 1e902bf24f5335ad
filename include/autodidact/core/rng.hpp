#pragma once
// Counter-based random numbers: Philox4x32-10 (Random123). A generator is
// keyed by (seed, stream); each draw is a pure function of a counter
// (step, index, ...), so masking, dropout and sampling give the same result
// for any thread count and after a resume, with no state to carry.
//
// Mapping onto Philox4x32-10: key = (seed low 32 bits, seed high 32 bits);
// counter = (index, index2, step, stream). One call yields four 32-bit words.

#include "autodidact/core/error.hpp"  // for AUTODIDACT_EXCEPTIONS, raise

// Random123 1.14 throws in two places a -fno-exceptions build cannot
// compile: R123_THROW (r123array's at()) and raw `throw`s in features/sse.h
// (the r123m128i comparisons, used by AES and ARS, never by Philox). Without
// exceptions, R123_THROW goes to autodidact's handler and the SSE type is
// left out, unless the program configured Random123 itself.
#if !AUTODIDACT_EXCEPTIONS
#ifndef R123_THROW
#define R123_THROW(x) ::autodidact::raise<::autodidact::invalid_argument>("Random123: ", (x).what())
#endif
#ifndef R123_USE_SSE
#define R123_USE_SSE 0
#endif
#endif
#include <Random123/philox.h>  // for r123::Philox4x32 (10 rounds)
#include <array>               // for std::array
#include <cmath>               // for std::log, std::sqrt, std::cos, std::sin
#include <cstdint>             // for std::uint32_t, std::uint64_t

namespace autodidact {

// Named streams, so two uses of one seed never share draws.
enum class rng_stream : std::uint32_t {
  init = 1,      // weight initialisation
  masking = 2,   // MLM / span masking
  dropout = 3,   // dropout masks
  sampling = 4,  // generation
  shuffle = 5,   // data order
  negatives = 6, // sampled-softmax candidates
  user = 1000,   // first value free for users
};

class philox_rng {
 public:
  using block = std::array<std::uint32_t, 4>;

  constexpr philox_rng(std::uint64_t seed, rng_stream stream) noexcept
      : philox_rng(seed, static_cast<std::uint32_t>(stream)) {}
  constexpr philox_rng(std::uint64_t seed, std::uint32_t stream) noexcept : seed_(seed), stream_(stream) {}

  std::uint64_t seed() const noexcept { return seed_; }
  std::uint32_t stream() const noexcept { return stream_; }

  // The raw Philox4x32-10 block for counter (index, index2, step, stream).
  block operator()(std::uint32_t step, std::uint32_t index, std::uint32_t index2 = 0) const noexcept {
    return philox4x32_10({index, index2, step, stream_},
                         {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
  }

  // Philox4x32-10 itself: counter and key words in Random123's order.
  static block philox4x32_10(block counter, std::array<std::uint32_t, 2> key) noexcept {
    r123::Philox4x32 generator;
    r123::Philox4x32::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
    r123::Philox4x32::key_type k = {{key[0], key[1]}};
    const auto r = generator(c, k);
    return {r[0], r[1], r[2], r[3]};
  }

  // Four uniform floats in [0, 1) with 24 random bits each.
  std::array<float, 4> uniform4(std::uint32_t step, std::uint32_t index,
                                std::uint32_t index2 = 0) const noexcept {
    const block b = (*this)(step, index, index2);
    return {to_unit_float(b[0]), to_unit_float(b[1]), to_unit_float(b[2]), to_unit_float(b[3])};
  }

  // One uniform float in [0, 1): the first word of the block.
  float uniform(std::uint32_t step, std::uint32_t index, std::uint32_t index2 = 0) const noexcept {
    return to_unit_float((*this)(step, index, index2)[0]);
  }

  // One uniform double in [0, 1) with 53 random bits (two words).
  double uniform_double(std::uint32_t step, std::uint32_t index, std::uint32_t index2 = 0) const noexcept {
    const block b = (*this)(step, index, index2);
    const std::uint64_t bits = (std::uint64_t{b[0]} << 21) ^ (std::uint64_t{b[1]} >> 11);
    return static_cast<double>(bits & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
  }

  // A uniform integer in [0, n) by Lemire's multiply-shift (bias < n / 2^32).
  std::uint32_t below(std::uint32_t n, std::uint32_t step, std::uint32_t index,
                      std::uint32_t index2 = 0) const noexcept {
    const std::uint64_t product = std::uint64_t{(*this)(step, index, index2)[0]} * n;
    return static_cast<std::uint32_t>(product >> 32);
  }

  // Two independent standard normal draws (Box-Muller on two 53-bit uniforms).
  std::array<double, 2> normal2(std::uint32_t step, std::uint32_t index,
                                std::uint32_t index2 = 0) const noexcept {
    const block b = (*this)(step, index, index2);
    const double u1 = (static_cast<double>((std::uint64_t{b[0]} << 21) ^ (b[1] >> 11)) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>((std::uint64_t{b[2]} << 21) ^ (b[3] >> 11)) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    constexpr double two_pi = 6.283185307179586476925286766559;
    return {r * std::cos(two_pi * u2), r * std::sin(two_pi * u2)};
  }

  static constexpr float to_unit_float(std::uint32_t word) noexcept {
    return static_cast<float>(word >> 8) * 0x1.0p-24f;
  }

 private:
  std::uint64_t seed_;
  std::uint32_t stream_;
};

}  // namespace autodidact
