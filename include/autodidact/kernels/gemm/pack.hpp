#pragma once
// GEMM operand packing (part of kernels/gemm.hpp; include that header):
// op(A) into MR-high panels, op(B) into NR-wide panels, zero-padded, in the
// layout the micro-kernel of kernels/gemm/micro_kernel.hpp reads.
//
// Preconditions: the block [p0, p0+kc) x [i0, i0+mc) (or [j0, j0+nc)) lies
// inside op(A) (op(B)); out holds ceil(mc / MR) * MR * kc (ceil(nc / NR) *
// NR * kc) elements.

#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int64_t
#include <cstring>  // for std::memcpy (MR-value pieces of A)

#include "autodidact/kernels/common.hpp"          // for transpose
#include "autodidact/kernels/gemm/blocking.hpp"  // for gemm_blocking
#include "autodidact/simd/simd.hpp"               // for simd::width, load, store, gather, strided_index

namespace autodidact::kernels {

namespace detail {

// op(A)[i0..i0+mc, p0..p0+kc] into MR-high panels: panel q holds, for each
// p, the MR values op(A)[i0 + q*MR + r, p0 + p] (zero past row mc).
template <class T>
inline void gemm_pack_a(transpose ta, const T* a, int lda, int i0, int mc, int p0, int kc, T* out) {
  constexpr int mr = gemm_blocking<T>::mr;
  if (ta == transpose::yes) {
    // op(A)(i, p) = a[p*lda + i]: row p0 + p of A holds step p of every
    // panel side by side, so the rows are walked in order, each read once
    // as mc contiguous values (whole lines, what the prefetchers follow),
    // and its MR-value pieces are copied to their panels.
    const int full = mc / mr * mr;
    for (int p = 0; p < kc; ++p) {
      const T* src = a + std::ptrdiff_t(p0 + p) * lda + i0;
      T* dst = out + std::ptrdiff_t(p) * mr;
      for (int q = 0; q < full; q += mr) std::memcpy(dst + std::ptrdiff_t(q) * kc, src + q, mr * sizeof(T));
      if (full < mc) {
        T* d = dst + std::ptrdiff_t(full) * kc;
        for (int r = 0; r < mr; ++r) d[r] = full + r < mc ? src[full + r] : T(0);
      }
    }
    return;
  }
  for (int q = 0; q < mc; q += mr) {
    const int rows = mc - q < mr ? mc - q : mr;
    T* dst = out + std::ptrdiff_t(q) * kc;
    // op(A)(i, p) = a[i*lda + p]
    for (int r = 0; r < rows; ++r) {
      const T* src = a + std::ptrdiff_t(i0 + q + r) * lda + p0;
      for (int p = 0; p < kc; ++p) dst[p * mr + r] = src[p];
    }
    for (int r = rows; r < mr; ++r)
      for (int p = 0; p < kc; ++p) dst[p * mr + r] = T(0);
  }
}

// op(B)[p0..p0+kc, j0..j0+nc] into NR-wide panels: panel q holds, for each
// p, the NR values op(B)[p0 + p, j0 + q*NR + c] (zero past column nc).
template <class T>
inline void gemm_pack_b(transpose tb, const T* b, int ldb, int p0, int kc, int j0, int nc, T* out) {
  constexpr int nr = gemm_blocking<T>::nr;
  for (int q = 0; q < nc; q += nr) {
    const int cols = nc - q < nr ? nc - q : nr;
    T* dst = out + std::ptrdiff_t(q) * kc;
    if (tb == transpose::no) {
      // op(B)(p, j) = b[p*ldb + j]
      for (int p = 0; p < kc; ++p) {
        const T* src = b + std::ptrdiff_t(p0 + p) * ldb + j0 + q;
        T* d = dst + std::ptrdiff_t(p) * nr;
        int c = 0;
        if (cols == nr) {
          constexpr int w = simd::width<T>;
          for (; c + w <= nr; c += w) simd::store(d + c, simd::load(src + c));
        }
        for (; c < cols; ++c) d[c] = src[c];
        for (; c < nr; ++c) d[c] = T(0);
      }
    } else {
      // op(B)(p, j) = b[j*ldb + p]: a transpose; full vectors of columns
      // are gathered (lane c reads row j + c of B), the rest copied.
      constexpr int w = simd::width<T>;
      // Columns [0, gathered) by gathers (when the lane offsets fit the
      // index type), the rest one by one. The bound is computed before
      // either loop: with the gather loop's running index as the second
      // loop's start, GCC 12 lost its range once pack_b was inlined with
      // constant sizes and warned that the copy loop overran
      // (-Waggressive-loop-optimizations, the AVX2 kernels tests).
      const int gathered = std::int64_t(ldb) * w < (std::int64_t(1) << 30) ? cols / w * w : 0;
      if (gathered > 0) {
        const auto index = simd::strided_index<T>(ldb);
        for (int c0 = 0; c0 < gathered; c0 += w) {
          const T* src = b + std::ptrdiff_t(j0 + q + c0) * ldb + p0;
          int p = 0;
          // w steps of K at a time transposed in registers where the ISA
          // has it (AVX2, AVX-512: simd::has_transpose); the rest gathered.
          if constexpr (simd::has_transpose<T>)
            for (; p + w <= kc; p += w) simd::transpose_block(src + p, ldb, dst + std::ptrdiff_t(p) * nr + c0, nr);
          for (; p < kc; ++p) simd::store(dst + std::ptrdiff_t(p) * nr + c0, simd::gather(src + p, index));
        }
      }
      for (int c = gathered; c < cols; ++c) {
        const T* src = b + std::ptrdiff_t(j0 + q + c) * ldb + p0;
        for (int p = 0; p < kc; ++p) dst[std::ptrdiff_t(p) * nr + c] = src[p];
      }
      if (cols < nr)
        for (int pp = 0; pp < kc; ++pp)
          for (int c = cols; c < nr; ++c) dst[std::ptrdiff_t(pp) * nr + c] = T(0);
    }
  }
}

}  // namespace detail

}  // namespace autodidact::kernels
