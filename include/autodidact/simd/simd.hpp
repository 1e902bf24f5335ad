#pragma once
// The one place that includes xsimd. Kernels are written against
// simd::batch<T> (the widest batch of the default architecture, whose lane
// count is simd::width<T>) plus the helpers below, and keep a scalar tail
// for the last n % width<T> elements.
//
// Preconditions and facts:
// - T is float or double.
// - Loads and stores are unaligned (pointers need only alignof(T)).
// - Without a SIMD architecture (XSIMD_NO_SUPPORTED_ARCHITECTURE), or when
//   AUTODIDACT_SIMD_SCALAR is defined, batch<T> is a one-lane scalar type
//   with the same interface, so kernels compile and stay correct.
// - xsimd 8.1 spells the horizontal sum `hadd` (later versions:
//   `reduce_add`); reduce_sum is the only place that names it.

#include <algorithm>  // for std::max
#include <cmath>      // for std::exp, std::erf, std::tanh, std::sqrt
#include <cstddef>    // for std::ptrdiff_t
#include <type_traits>  // for std::is_same_v

// GCC 12 reports its own AVX-512 intrinsics (the self-initialised __Y of
// _mm512_undefined_*) as maybe-uninitialized once xsimd inlines them; the
// warning is a known false positive, silenced for these headers only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>  // for xsimd::batch, load/store, fma, hadd, exp, erf, tanh
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace autodidact::simd {

#if defined(XSIMD_NO_SUPPORTED_ARCHITECTURE) || defined(AUTODIDACT_SIMD_SCALAR)

inline constexpr bool vectorized = false;

// One lane with the arithmetic a kernel needs.
template <class T>
struct scalar_batch {
  static constexpr int size = 1;
  T value{};
  scalar_batch() = default;
  scalar_batch(T v) : value(v) {}  // NOLINT: broadcast, like xsimd::batch(T)
  friend scalar_batch operator+(scalar_batch a, scalar_batch b) { return a.value + b.value; }
  friend scalar_batch operator-(scalar_batch a, scalar_batch b) { return a.value - b.value; }
  friend scalar_batch operator*(scalar_batch a, scalar_batch b) { return a.value * b.value; }
  friend scalar_batch operator/(scalar_batch a, scalar_batch b) { return a.value / b.value; }
  friend scalar_batch operator-(scalar_batch a) { return -a.value; }
  scalar_batch& operator+=(scalar_batch b) { value += b.value; return *this; }
  scalar_batch& operator-=(scalar_batch b) { value -= b.value; return *this; }
  scalar_batch& operator*=(scalar_batch b) { value *= b.value; return *this; }
};

template <class T>
using batch = scalar_batch<T>;

template <class T> inline batch<T> load(const T* p) { return batch<T>(*p); }
template <class T> inline void store(T* p, batch<T> b) { *p = b.value; }
template <class T> inline T reduce_sum(batch<T> b) { return b.value; }
template <class T> inline T reduce_max(batch<T> b) { return b.value; }
template <class T> inline batch<T> fma(batch<T> a, batch<T> b, batch<T> c) { return a.value * b.value + c.value; }
template <class T> inline batch<T> max(batch<T> a, batch<T> b) { return std::max(a.value, b.value); }
template <class T> inline batch<T> exp(batch<T> a) { return std::exp(a.value); }
template <class T> inline batch<T> erf(batch<T> a) { return std::erf(a.value); }
template <class T> inline batch<T> tanh(batch<T> a) { return std::tanh(a.value); }
template <class T> inline batch<T> sqrt(batch<T> a) { return std::sqrt(a.value); }
template <class T> using gather_index = int;
template <class T> inline gather_index<T> strided_index(std::ptrdiff_t) { return 0; }
template <class T> inline batch<T> gather(const T* p, gather_index<T>) { return batch<T>(*p); }
template <class T> inline constexpr bool has_transpose = false;
template <class T> inline void transpose_block(const T* src, std::ptrdiff_t, T* dst, std::ptrdiff_t) { *dst = *src; }

#else

inline constexpr bool vectorized = true;

// The widest batch of the architecture the translation unit is compiled for
// (fma3<avx2> with -march=native on the reference machine: 8 floats).
template <class T>
using batch = xsimd::batch<T, xsimd::default_arch>;

template <class T> inline batch<T> load(const T* p) { return batch<T>::load_unaligned(p); }
template <class T> inline void store(T* p, const batch<T>& b) { b.store_unaligned(p); }
// Sum of the lanes (xsimd 8.1's hadd; reduce_add in xsimd >= 9).
template <class T> inline T reduce_sum(const batch<T>& b) { return xsimd::hadd(b); }
// Largest lane (through a small array: xsimd 8.1 has no reduce_max).
template <class T>
inline T reduce_max(const batch<T>& b) {
  alignas(64) T lanes[batch<T>::size];
  b.store_unaligned(lanes);
  T m = lanes[0];
  for (int i = 1; i < int(batch<T>::size); ++i) m = std::max(m, lanes[i]);
  return m;
}
template <class T> inline batch<T> fma(const batch<T>& a, const batch<T>& b, const batch<T>& c) { return xsimd::fma(a, b, c); }
template <class T> inline batch<T> max(const batch<T>& a, const batch<T>& b) { return xsimd::max(a, b); }
template <class T> inline batch<T> exp(const batch<T>& a) { return xsimd::exp(a); }
template <class T> inline batch<T> erf(const batch<T>& a) { return xsimd::erf(a); }
template <class T> inline batch<T> tanh(const batch<T>& a) { return xsimd::tanh(a); }
template <class T> inline batch<T> sqrt(const batch<T>& a) { return xsimd::sqrt(a); }

// Lane offsets of a strided gather (integers of T's size, as xsimd wants).
template <class T>
using gather_index = xsimd::batch<xsimd::as_integer_t<T>, xsimd::default_arch>;
// Offsets 0, stride, 2*stride, ... (stride * lanes must fit the integer type).
template <class T>
inline gather_index<T> strided_index(std::ptrdiff_t stride) {
  using I = xsimd::as_integer_t<T>;
  alignas(64) I lanes[gather_index<T>::size];
  for (int i = 0; i < int(gather_index<T>::size); ++i) lanes[i] = I(i * stride);
  return gather_index<T>::load_aligned(lanes);
}
// Lane i = p[index[i]]. xsimd 8.1's batch<float>::gather does not reach
// its AVX-512 / AVX2 gather kernels (the explicit template arguments it
// passes rule them out) and inserts lane by lane instead, a call per lane
// when not inlined (measured: 6% of MiniLM latency); the gather
// instructions are issued directly here.
template <class T>
inline batch<T> gather(const T* p, const gather_index<T>& index) {
  // (The masked forms with a zero source: the plain ones start from an
  // "undefined" register, which GCC 12 reports as maybe-uninitialized.)
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_same_v<T, float> && batch<T>::size == 16)
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xFFFF), index, p, 4);
  if constexpr (std::is_same_v<T, double> && batch<T>::size == 8)
    return _mm512_mask_i64gather_pd(_mm512_setzero_pd(), __mmask8(0xFF), index, p, 8);
#endif
#if XSIMD_WITH_AVX2
  if constexpr (std::is_same_v<T, float> && batch<T>::size == 8)
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, index, _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4);
  if constexpr (std::is_same_v<T, double> && batch<T>::size == 4)
    return _mm256_mask_i64gather_pd(_mm256_setzero_pd(), p, index, _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8);
#endif
  return batch<T>::gather(p, index);
}

// Whether transpose_block<T> transposes in registers: 8 x 8 floats with
// AVX/AVX2 code (8 loads, 24 shuffles, 8 stores for what takes 8 gathers),
// 16 x 16 with AVX-512 (16 loads, 64 shuffles, 16 stores for 16 gathers).
// Gathers are slow on AMD Zen: a profile of an AVX-512 MLM step on Zen 4
// had the gathers of pack_b at about 4 % of the step. Elsewhere (double,
// SSE) a transposed copy gathers.
template <class T>
inline constexpr bool has_transpose = std::is_same_v<T, float> &&
                                      ((XSIMD_WITH_AVX512F && batch<T>::size == 16) ||
                                       (XSIMD_WITH_AVX && !XSIMD_WITH_AVX512F && batch<T>::size == 8));
// dst[t * ldd + i] = src[i * lds + t] for i, t < the lane count: a block
// of that many rows of src, transposed (with has_transpose<T>, in
// registers).
template <class T>
inline void transpose_block(const T* src, std::ptrdiff_t lds, T* dst, std::ptrdiff_t ldd) {
#if XSIMD_WITH_AVX512F
  if constexpr (has_transpose<T>) {
    // Within each 128-bit lane as on AVX2 (pairs of rows interleaved, then
    // pairs of pairs: v[4g + c], lane L, holds column 4L + c of rows
    // 4g..4g+3), then the 4 x 4 grid of 128-bit lanes transposed for each
    // c: out[4L + c], lane g = v[4g + c], lane L.
    __m512 r[16], u[16], v[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 16; i += 2) {
      u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      v[i] = _mm512_shuffle_ps(u[i], u[i + 2], 0x44);
      v[i + 1] = _mm512_shuffle_ps(u[i], u[i + 2], 0xEE);
      v[i + 2] = _mm512_shuffle_ps(u[i + 1], u[i + 3], 0x44);
      v[i + 3] = _mm512_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
    }
    for (int c = 0; c < 4; ++c) {
      const __m512 x0 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0xEE);
      const __m512 y0 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0x44),
                   y1 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0xEE);
      _mm512_storeu_ps(dst + c * ldd, _mm512_shuffle_f32x4(x0, y0, 0x88));
      _mm512_storeu_ps(dst + (4 + c) * ldd, _mm512_shuffle_f32x4(x0, y0, 0xDD));
      _mm512_storeu_ps(dst + (8 + c) * ldd, _mm512_shuffle_f32x4(x1, y1, 0x88));
      _mm512_storeu_ps(dst + (12 + c) * ldd, _mm512_shuffle_f32x4(x1, y1, 0xDD));
    }
    return;
  }
#elif XSIMD_WITH_AVX
  if constexpr (has_transpose<T>) {
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit
    // halves exchanged: out[t] holds lane t of rows 0..7.
    __m256 r[8], u[8], v[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
      u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      v[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
      v[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
      v[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
      v[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
    }
    for (int t = 0; t < 4; ++t) {
      _mm256_storeu_ps(dst + t * ldd, _mm256_permute2f128_ps(v[t], v[t + 4], 0x20));
      _mm256_storeu_ps(dst + (t + 4) * ldd, _mm256_permute2f128_ps(v[t], v[t + 4], 0x31));
    }
    return;
  }
#endif
  constexpr int w = int(batch<T>::size);
  for (int i = 0; i < w; ++i)
    for (int t = 0; t < w; ++t) dst[t * ldd + i] = src[i * lds + t];
}

#endif

// Lanes of batch<T>.
template <class T>
inline constexpr int width = int(batch<T>::size);

// Σ a[j]·b[j] for j < n: vector FMA over full batches, one lane sum, then
// the scalar tail (a fixed order, so the same result on every call).
template <class T>
inline T dot(int n, const T* a, const T* b) {
  batch<T> acc(T(0));
  int j = 0;
  for (; j + width<T> <= n; j += width<T>) acc = simd::fma(simd::load(a + j), simd::load(b + j), acc);
  T s = simd::reduce_sum(acc);
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

}  // namespace autodidact::simd
