#pragma once
// The one-row product (part of kernels/gemm.hpp; include that header):
// y[1, n] = x op(B) + epilogue. Over prepacked B it is batch-1 decoding's
// matrix x vector, where every weight is read once from memory per call;
// over unpacked B it is attention over a KV cache at batch 1 (q Kᵀ and
// p V on blocks of 64 cached rows, 288 small products per token for GPT-2
// small), where the cache-blocked path's fixed costs dominated.
//
// Why not the cache-blocked path: with one row it packs x into a zero-padded
// MR-row panel and runs the MR x NR micro-kernel, i.e. MR times the FMAs
// needed, and walks B slice-major (KC rows of one panel, then of the next:
// 147 KB apart for a 768-deep weight with AVX-512), with per-call blocking
// work sized for big M. Here B is
// read in its stored order, panel after panel over all of K: one
// sequential stream, prefetched a fixed distance ahead, one FMA per loaded
// vector.
//
// Bitwise the cache-blocked path: each column is accumulated in one
// accumulator, k ascending, restarted at 0 for every K slice of the
// driver's split (same kc_step), each slice finished by the same
// gemm_write_row (raw sums in C or pre_activation, alpha and the epilogue
// with the last slice), so every element goes through the same roundings
// as in the micro-kernel (which computes row 0 of its padded panel exactly
// so). tests/kernels/test_gemm.cpp checks it bit for bit.
//
// Preconditions: those of gemm_packed_range (driver.hpp); n0 on the NR grid.

#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/kernels/common.hpp"              // for transpose, write_mode, gemm_epilogue
#include "autodidact/kernels/gemm/blocking.hpp"      // for gemm_blocking, gemm_buffers
#include "autodidact/kernels/gemm/micro_kernel.hpp"  // for gemm_write_row, gemm_row_epilogue, gemm_slice
#include "autodidact/kernels/gemm/pack.hpp"          // for gemm_pack_b
#include "autodidact/simd/simd.hpp"                  // for simd::batch, width, load, store, fma

namespace autodidact::kernels {

namespace detail {

// How far ahead (bytes) the one-row product prefetches its stream of B.
// Memory latency x one core's bandwidth is a few KB; the software prefetch
// also runs across 4 KB pages, where the hardware prefetcher restarts.
// 1, 2 and 4 KB and none measured alike within a shared host's ±8 % noise
// (benchmarks/kernels/gemv_bandwidth, AVX-512, 2026-12-02).
#ifndef AUTODIDACT_GEMV_PREFETCH_BYTES
#define AUTODIDACT_GEMV_PREFETCH_BYTES 2048
#endif

// tile[NV * w] = sum over p < kc of x[p * xs] * bp[p * ldb ...], one
// accumulator per column, p ascending from 0 (as gemm_micro's row 0).
// Stream: B is a prepacked panel (ldb = NR) read from memory, prefetched;
// otherwise rows of an unpacked B (or a panel just packed), in cache.
// Never inlined: one call per panel and K slice (up to KC FMA steps).
template <class T, int NV, bool Stream>
[[gnu::noinline]] void gemv_slice(int kc, const T* __restrict x, std::ptrdiff_t xs, const T* __restrict bp,
                                  std::ptrdiff_t ldb, T* __restrict tile) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  constexpr int nr = NV * w;
  constexpr int lines = nr * int(sizeof(T)) / 64 > 0 ? nr * int(sizeof(T)) / 64 : 1;
  B acc[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) acc[v] = B(T(0));
  // The p loop unrolled by hand x2 would not add chains (one per column is
  // the rounding contract); the NV independent chains keep the FMA unit
  // ahead of memory at any width.
#pragma GCC unroll 2
  for (int p = 0; p < kc; ++p) {
#ifndef AUTODIDACT_GEMM_NO_PREFETCH
    if constexpr (Stream) {
#pragma GCC unroll 4
      for (int l = 0; l < lines; ++l)
        __builtin_prefetch(reinterpret_cast<const char*>(bp) + AUTODIDACT_GEMV_PREFETCH_BYTES + 64 * l);
    }
#endif
    const B xv(x[std::ptrdiff_t(p) * xs]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] = simd::fma(xv, simd::load(bp + v * w), acc[v]);
    bp += Stream ? nr : ldb;
  }
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) simd::store(tile + v * w, acc[v]);
}

// Row m0 of C, columns [n0, n1): from prepacked B (all of K per panel)
// when b_packed, else from op(B) as in gemm (b, ldb, tb); element (m0, p)
// of op(A) is a[m0 * lda + p] (no) or a[p * lda + m0] (yes).
template <class T>
void gemv_range(transpose ta, transpose tb, int m0, int n0, int n1, int k, T alpha, const T* a, int lda,
                const T* b, int ldb, const T* b_packed, write_mode mode, T* c, int ldc,
                const gemm_epilogue<T>& ep) {
  using blk = gemm_blocking<T>;
  constexpr int nr = blk::nr;
  alignas(64) T tile[nr];
  // The driver's K slices (gemm_packed_range): same count, same depth.
  const int k_slices = (k + blk::kc - 1) / blk::kc;
  const int kc_step = (k + k_slices - 1) / k_slices;
  const T* x = ta == transpose::no ? a + std::ptrdiff_t(m0) * lda : a + m0;
  const std::ptrdiff_t xs = ta == transpose::no ? 1 : lda;
  const bool pre_raw = ep.pre_activation != nullptr;
  T* pack = b_packed ? nullptr : gemm_buffers<T>::get().b;  // one panel x one slice
  for (int j = n0; j < n1; j += nr) {
    const int cols = n1 - j < nr ? n1 - j : nr;
    const T* panel = b_packed ? b_packed + std::ptrdiff_t(j) * k : nullptr;
    T* crow = c + std::ptrdiff_t(m0) * ldc + j;
    const gemm_row_epilogue<T> e(ep, m0, j, ldc);
    for (int pc = 0; pc < k; pc += kc_step) {
      const int kc = k - pc < kc_step ? k - pc : kc_step;
      const gemm_slice slice = gemm_slice_at(pc, kc, k);
      const T* xp = x + std::ptrdiff_t(pc) * xs;
      if (b_packed) {
        gemv_slice<T, blk::nv, true>(kc, xp, xs, panel + std::ptrdiff_t(pc) * nr, nr, tile);
      } else if (tb == transpose::no && cols == nr) {
        // Whole rows of B hold the panel's columns: read them in place.
        gemv_slice<T, blk::nv, false>(kc, xp, xs, b + std::ptrdiff_t(pc) * ldb + j, ldb, tile);
      } else {
        // Bᵀ (keys) or a partial panel: packed as the cache-blocked path
        // packs it (same values, zero-padded), then the same loop.
        gemm_pack_b(tb, b, ldb, pc, kc, j, cols, pack);
        gemv_slice<T, blk::nv, false>(kc, xp, xs, pack, nr, tile);
      }
      gemm_write_row(tile, cols, slice, alpha, mode, crow, pre_raw ? e.pre : crow, e);
    }
  }
}

}  // namespace detail

}  // namespace autodidact::kernels
