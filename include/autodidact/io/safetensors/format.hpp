#pragma once
// The safetensors format's vocabulary (part of io/safetensors.hpp): the
// element types (dtype) with their sizes and names, one tensor's entry in
// the header (tensor_info), and the conversions of stored elements
// (binary16 and bfloat16 to float, unaligned little-endian loads).

#include <bit>          // for std::endian, std::bit_cast
#include <cmath>        // for std::ldexp
#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::int64_t, std::uint16_t, std::uint32_t, ...
#include <cstring>      // for std::memcpy
#include <limits>       // for std::numeric_limits
#include <optional>     // for std::optional
#include <span>         // for std::span
#include <sstream>      // for std::ostringstream
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::is_same_v
#include <vector>       // for std::vector

namespace autodidact::io {

static_assert(std::endian::native == std::endian::little,
              "autodidact: the safetensors reader assumes a little-endian host.");

// ---------------------------------------------------------------------------
// Element types.

enum class dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

// Bytes per element.
constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
    case dtype::i64:
      return 8;
    case dtype::f32:
    case dtype::i32:
      return 4;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16:
      return 2;
    case dtype::i8:
    case dtype::u8:
    case dtype::boolean:
      return 1;
  }
  return 0;
}

// The name the format uses ("F32", "BOOL", ...).
constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
      return "F64";
    case dtype::f32:
      return "F32";
    case dtype::f16:
      return "F16";
    case dtype::bf16:
      return "BF16";
    case dtype::i64:
      return "I64";
    case dtype::i32:
      return "I32";
    case dtype::i16:
      return "I16";
    case dtype::i8:
      return "I8";
    case dtype::u8:
      return "U8";
    case dtype::boolean:
      return "BOOL";
  }
  return "?";
}

// The dtype named `name`, or nothing if the reader does not support it.
constexpr std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (dtype t : {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64, dtype::i32, dtype::i16,
                  dtype::i8, dtype::u8, dtype::boolean}) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f64 || t == dtype::f32 || t == dtype::f16 || t == dtype::bf16;
}

// The dtype a C++ element type is written as (float → F32, ...).
template <class T>
constexpr dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double>)
    return dtype::f64;
  else if constexpr (std::is_same_v<T, float>)
    return dtype::f32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return dtype::i64;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return dtype::i32;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return dtype::i16;
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return dtype::i8;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return dtype::u8;
  else if constexpr (std::is_same_v<T, bool>)
    return dtype::boolean;
  else
    static_assert(sizeof(T) == 0, "autodidact: dtype_of<T> has no safetensors dtype for T.");
}

// dtype_of<T>() when T has one, nothing otherwise (no static_assert).
template <class T>
constexpr std::optional<dtype> maybe_dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, std::int64_t> ||
                std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int16_t> ||
                std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>)
    return dtype_of<T>();
  else
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// One tensor's entry in the header.

struct tensor_info {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  std::vector<std::int64_t> shape;  // row-major; {} is a scalar
  std::size_t begin = 0;            // byte offsets into the data section
  std::size_t end = 0;

  std::int64_t numel() const noexcept {
    // A zero extent first: the other extents may multiply past 2^63 (the
    // reader accepts [2^40, 2^40, 0], which holds no element).
    for (std::int64_t d : shape)
      if (d == 0) return 0;
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;  // fits: the reader checked the bytes
    return n;
  }
  std::size_t size_bytes() const noexcept { return end - begin; }
};

namespace detail {

// "[3, 37, 80]"
inline std::string shape_string(std::span<const std::int64_t> shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// IEEE binary16 → float (exact: every half is a float).
inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h >> 15) & 1u;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

// bfloat16 → float: the upper half of the float's bits.
inline float bf16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

template <class Stored>
Stored load(const std::byte* p) noexcept {
  Stored v;
  std::memcpy(&v, p, sizeof(Stored));
  return v;
}

}  // namespace detail

}  // namespace autodidact::io
