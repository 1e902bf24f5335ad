#pragma once
// GEMM register tiles (part of kernels/gemm.hpp; include that header).
//
// - The unpacked path's tiles: gemm_tile_rows / gemm_row_block (op(B) with
//   contiguous rows, op(A) broadcast) and gemm_tile_dot / gemm_dot_row_block
//   (op(B) = B^T: dot products of rows), each finished a row segment at a
//   time by gemm_finish_segment.
// - gemm_row_epilogue: the epilogue of one row segment, which both paths
//   apply.
// - The packed path's micro-kernel gemm_micro (MR x NR tile over one K
//   slice of a packed B panel) and its write-back gemm_write_row.
//
// Preconditions: T is float or double; the pointers and strides come from
// the drivers in kernels/gemm/driver.hpp, which check the arguments.

#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/kernels/common.hpp"  // for write_mode, activation, gemm_epilogue
#include "autodidact/kernels/gelu.hpp"    // for detail::apply_activation(_v)
#include "autodidact/simd/simd.hpp"       // for simd::batch, width, load, store, fma, reduce_sum

namespace autodidact::kernels {

namespace detail {

// The epilogue of one row segment of C: gemm_epilogue (common.hpp) with its
// pointers moved to row i, column j0 of the segment. The one place its
// steps are written (for a vector of columns and for one column), so the
// unpacked path (gemm_finish_segment) and the packed path (gemm_write_row)
// finish every element the same way.
template <class T>
struct gemm_row_epilogue {
  const T* bias = nullptr;  // bias + j0, or null
  T* pre = nullptr;         // pre_activation + i * ldc + j0, or null
  const T* res = nullptr;   // residual + i * ldr + j0, or null
  activation act = activation::none;

  gemm_row_epilogue(const gemm_epilogue<T>& ep, std::ptrdiff_t i, int j0, int ldc)
      : bias(ep.bias ? ep.bias + j0 : nullptr),
        pre(ep.pre_activation ? ep.pre_activation + i * ldc + j0 : nullptr),
        res(ep.residual ? ep.residual + i * ep.ldr + j0 : nullptr),
        act(ep.act) {}

  // From z = alpha * the product at columns [j, j + w) of the segment:
  // + bias, saved as the pre-activation, activated, + residual, stored at
  // crow + j.
  [[gnu::always_inline]] void finish(simd::batch<T> z, int j, T* crow) const {
    if (bias) z += simd::load(bias + j);
    if (pre) simd::store(pre + j, z);
    if (act != activation::none) z = apply_activation_v(act, z);
    if (res) z += simd::load(res + j);
    simd::store(crow + j, z);
  }
  // The same for column j alone.
  [[gnu::always_inline]] void finish(T z, int j, T* crow) const {
    if (bias) z += bias[j];
    if (pre) pre[j] = z;
    z = apply_activation(act, z);
    if (res) z += res[j];
    crow[j] = z;
  }
};

// Finishes one row segment: acc[0..len) holds the raw product of row i,
// columns j0..j0+len of C.
template <class T>
inline void gemm_finish_segment(const T* acc, int len, int i, int j0, T alpha, write_mode mode,
                                T* c, int ldc, const gemm_epilogue<T>& ep) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  T* crow = c + std::ptrdiff_t(i) * ldc + j0;
  const B va(alpha);
  int j = 0;
  if (mode == write_mode::accumulate) {
    for (; j + w <= len; j += w) simd::store(crow + j, simd::fma(va, simd::load(acc + j), simd::load(crow + j)));
    for (; j < len; ++j) crow[j] += alpha * acc[j];
    return;
  }
  const gemm_row_epilogue<T> e(ep, i, j0, ldc);
  for (; j + w <= len; j += w) e.finish(va * simd::load(acc + j), j, crow);
  for (; j < len; ++j) e.finish(alpha * acc[j], j, crow);
}

// Register tile for op(B) with contiguous rows ([K,N], row stride ldb):
// out[MR][NV*w] = op(A)[i0..i0+MR, :] * B[:, j0..j0+NV*w], where element
// (r, p) of op(A) is a[r*a_rs + p*a_cs].
template <class T, int MR, int NV>
inline void gemm_tile_rows(int k, const T* a, std::ptrdiff_t a_rs, std::ptrdiff_t a_cs, const T* b,
                           std::ptrdiff_t ldb, T* out) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  B acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = B(T(0));
  for (int p = 0; p < k; ++p) {
    B bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(b + std::ptrdiff_t(p) * ldb + v * w);
    for (int r = 0; r < MR; ++r) {
      const B av(a[r * a_rs + p * a_cs]);
      for (int v = 0; v < NV; ++v) acc[r][v] = simd::fma(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) simd::store(out + r * NV * w + v * w, acc[r][v]);
}

// The same for the last `cols` (< w) columns, in scalar code.
template <class T, int MR>
inline void gemm_tile_rows_tail(int k, int cols, const T* a, std::ptrdiff_t a_rs,
                                std::ptrdiff_t a_cs, const T* b, std::ptrdiff_t ldb, T* out) {
  constexpr int w = simd::width<T>;
  T acc[MR][w] = {};
  for (int p = 0; p < k; ++p) {
    const T* brow = b + std::ptrdiff_t(p) * ldb;
    for (int r = 0; r < MR; ++r) {
      const T av = a[r * a_rs + p * a_cs];
      for (int j = 0; j < cols; ++j) acc[r][j] += av * brow[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < cols; ++j) out[r * w + j] = acc[r][j];
}

// One block of MR rows of C against B with contiguous rows.
template <class T, int MR>
inline void gemm_row_block(int i0, int n, int k, const T* a, std::ptrdiff_t a_rs,
                           std::ptrdiff_t a_cs, const T* b, std::ptrdiff_t ldb, T alpha,
                           write_mode mode, T* c, int ldc, const gemm_epilogue<T>& ep) {
  constexpr int w = simd::width<T>;
  alignas(64) T tile[MR * 2 * w];
  const T* arow = a + std::ptrdiff_t(i0) * a_rs;
  int j = 0;
  for (; j + 2 * w <= n; j += 2 * w) {
    gemm_tile_rows<T, MR, 2>(k, arow, a_rs, a_cs, b + j, ldb, tile);
    for (int r = 0; r < MR; ++r) gemm_finish_segment(tile + r * 2 * w, 2 * w, i0 + r, j, alpha, mode, c, ldc, ep);
  }
  if (j + w <= n) {
    gemm_tile_rows<T, MR, 1>(k, arow, a_rs, a_cs, b + j, ldb, tile);
    for (int r = 0; r < MR; ++r) gemm_finish_segment(tile + r * w, w, i0 + r, j, alpha, mode, c, ldc, ep);
    j += w;
  }
  if (j < n) {
    gemm_tile_rows_tail<T, MR>(k, n - j, arow, a_rs, a_cs, b + j, ldb, tile);
    for (int r = 0; r < MR; ++r) gemm_finish_segment(tile + r * w, n - j, i0 + r, j, alpha, mode, c, ldc, ep);
  }
}

// Register tile of dot products, for op(A) = A [M,K] and op(B) = B^T with B
// stored [N,K]: out[MR][NR] = A[i0.., :] . B[j0.., :].
template <class T, int MR, int NR>
inline void gemm_tile_dot(int k, const T* a, std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, T* out) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  B acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NR; ++q) acc[r][q] = B(T(0));
  int p = 0;
  for (; p + w <= k; p += w) {
    B av[MR];
    for (int r = 0; r < MR; ++r) av[r] = simd::load(a + r * lda + p);
    for (int q = 0; q < NR; ++q) {
      const B bv = simd::load(b + q * ldb + p);
      for (int r = 0; r < MR; ++r) acc[r][q] = simd::fma(av[r], bv, acc[r][q]);
    }
  }
  T tail[MR][NR] = {};
  for (; p < k; ++p)
    for (int r = 0; r < MR; ++r)
      for (int q = 0; q < NR; ++q) tail[r][q] += a[r * lda + p] * b[q * ldb + p];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NR; ++q) out[r * NR + q] = simd::reduce_sum(acc[r][q]) + tail[r][q];
}

inline constexpr int dot_nr = 4;

template <class T, int MR>
inline void gemm_dot_row_block(int i0, int n, int k, const T* a, int lda, const T* b, int ldb,
                               T alpha, write_mode mode, T* c, int ldc, const gemm_epilogue<T>& ep) {
  // Products of a whole row block are gathered in `row` (MR x up to 64
  // columns) and finished a segment at a time.
  constexpr int seg = 64;
  alignas(64) T row[MR][seg];
  T tile[MR * dot_nr];
  const T* arow = a + std::ptrdiff_t(i0) * lda;
  for (int js = 0; js < n; js += seg) {
    const int len = n - js < seg ? n - js : seg;
    int q = 0;
    for (; q + dot_nr <= len; q += dot_nr) {
      gemm_tile_dot<T, MR, dot_nr>(k, arow, lda, b + std::ptrdiff_t(js + q) * ldb, ldb, tile);
      for (int r = 0; r < MR; ++r)
        for (int t = 0; t < dot_nr; ++t) row[r][q + t] = tile[r * dot_nr + t];
    }
    for (; q < len; ++q) {
      gemm_tile_dot<T, MR, 1>(k, arow, lda, b + std::ptrdiff_t(js + q) * ldb, ldb, tile);
      for (int r = 0; r < MR; ++r) row[r][q] = tile[r];
    }
    for (int r = 0; r < MR; ++r) gemm_finish_segment(row[r], len, i0 + r, js, alpha, mode, c, ldc, ep);
  }
}

// The micro-kernel: tile[MR][NR] = A panel (kc x MR) . B panel (kc x NR).
// How the micro-kernel reads op(A): a packed MR-high panel, or straight
// from A stored row-major [M,K] (rows) or [K,M] (cols) with stride lda.
// (A cols_pack layout, which also stored each step's MR values as a packed
// panel for the next tiles, was replaced by packing the whole block of Aᵀ
// in a row-order pass: driver.hpp.)
enum class gemm_a_layout { packed, rows, cols };

// How many steps of K ahead the micro-kernel prefetches B (32 x NR values,
// 6 KB ahead for floats on AVX-512). Weights that come from L3 (a model's
// next layer) need the distance: 32 was 2-6% faster than 8 on a
// 128 x 1152 x 384 product with cold packed weights, and equal with hot ones.
#ifndef AUTODIDACT_GEMM_PREFETCH_K
#define AUTODIDACT_GEMM_PREFETCH_K 32
#endif
// The tile is written to out (row stride ldo): stored, or, with add,
// out = alpha * tile + out (one fma per element, the same rounding as the
// write-back it replaces).
// With Far, B is also prefetched into L2 AUTODIDACT_GEMM_PREFETCH_FAR_K
// steps ahead: for prepacked weights, which usually arrive from L3 (a
// model's next layer). Measured on 64- and 128-row products with cold
// packed weights: 2-5 % faster; with hot ones 1-2 % slower, hence only there.
#ifndef AUTODIDACT_GEMM_PREFETCH_FAR_K
#define AUTODIDACT_GEMM_PREFETCH_FAR_K 96
#endif
// Never inlined: inside gemm_packed_range, GCC ran short of registers for
// the rows layout's eight row offsets and spilled them to the stack (one
// more instantiation, since removed, was enough to tip it): MiniLM batch 8 was
// 4-5 % slower. A call per tile (kc FMA steps) costs nothing measurable.
// NVC <= NV: only the first NVC vectors of the NR-wide panel are computed
// (a last, partial column panel: N = 256 is 5 panels of 48 and one of 16
// on AVX-512, and the 16 columns need one vector, not three). Each element
// is computed by the same FMAs in the same order whatever NVC, so the
// results do not depend on it.
template <class T, int MR, int NV, gemm_a_layout L = gemm_a_layout::packed, bool Far = false, int NVC = NV>
[[gnu::noinline]] void gemm_micro(int kc, const T* __restrict ap, std::ptrdiff_t lda, const T* __restrict bp,
                                  T* __restrict out, std::ptrdiff_t ldo, bool add = false, T alpha = T(1)) {
  static_assert(NVC >= 1 && NVC <= NV, "gemm_micro: NVC vectors of an NV-vector panel");
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  constexpr int nr = NV * w;
  B acc[MR][NVC];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVC; ++v) acc[r][v] = B(T(0));
  // Steps of K unrolled by 4: the loop's own instructions (two pointer
  // increments, compare and branch) once per 4 steps. With AVX2's 12 FMAs
  // per step they were a tenth of the step's instructions, and a 4-wide
  // front end (Haswell) has no slack for them: 6 % faster on AVX2 code,
  // about 1 % on AVX-512 (paired A/B, same bits).
#pragma GCC unroll 4
  for (int p = 0; p < kc; ++p) {
    B bv[NVC];
#ifndef AUTODIDACT_GEMM_NO_PREFETCH
    // B panels stream from L2 (or L3): ask for the lines some steps of K ahead.
#pragma GCC unroll 4
    for (int v = 0; v < NVC * w * int(sizeof(T)); v += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(bp + AUTODIDACT_GEMM_PREFETCH_K * nr) + v);
    if constexpr (Far) {
#pragma GCC unroll 4
      for (int v = 0; v < NVC * w * int(sizeof(T)); v += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(bp + AUTODIDACT_GEMM_PREFETCH_FAR_K * nr) + v, 0, 2);
    }
#endif
#pragma GCC unroll 4
    for (int v = 0; v < NVC; ++v) bv[v] = simd::load(bp + v * w);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const B av(L == gemm_a_layout::packed ? ap[r] : L == gemm_a_layout::rows ? ap[r * lda] : ap[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NVC; ++v) acc[r][v] = simd::fma(av, bv[v], acc[r][v]);
    }
    ap += L == gemm_a_layout::packed ? MR : L == gemm_a_layout::rows ? 1 : lda;
    bp += nr;
  }
  if (add) {
    const B va(alpha);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NVC; ++v) {
        T* o = out + r * ldo + v * w;
        simd::store(o, simd::fma(va, acc[r][v], simd::load(o)));
      }
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVC; ++v) simd::store(out + r * ldo + v * w, acc[r][v]);
}

// gemm_micro computing the first nvc (1..NV) vectors of the panel: the
// runtime count picks the instantiation.
template <class T, int MR, int NV, gemm_a_layout L = gemm_a_layout::packed, bool Far = false, int NVC = NV>
inline void gemm_micro_cols(int nvc, int kc, const T* ap, std::ptrdiff_t lda, const T* bp, T* out,
                            std::ptrdiff_t ldo, bool add, T alpha) {
  if constexpr (NVC > 1) {
    if (nvc < NVC) {
      gemm_micro_cols<T, MR, NV, L, Far, NVC - 1>(nvc, kc, ap, lda, bp, out, ldo, add, alpha);
      return;
    }
  }
  gemm_micro<T, MR, NV, L, Far, NVC>(kc, ap, lda, bp, out, ldo, add, alpha);
}

// Which K slice a write-back finishes.
enum class gemm_slice { only, first, middle, last };

// Which slice [pc, pc + kc) of a K-long product is.
constexpr gemm_slice gemm_slice_at(int pc, int kc, int k) noexcept {
  const bool first = pc == 0, last = pc + kc >= k;
  return first && last ? gemm_slice::only : first ? gemm_slice::first : last ? gemm_slice::last : gemm_slice::middle;
}

// Writes row segment acc[0..len) (raw products of one K slice) to C at
// crow; raw is where partial sums live between slices (pre_activation or C).
template <class T>
inline void gemm_write_row(const T* acc, int len, gemm_slice slice, T alpha, write_mode mode, T* crow,
                           T* raw, const gemm_row_epilogue<T>& e) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const B va(alpha);
  int j = 0;
  if (mode == write_mode::accumulate) {
    for (; j + w <= len; j += w) simd::store(crow + j, simd::fma(va, simd::load(acc + j), simd::load(crow + j)));
    for (; j < len; ++j) crow[j] += alpha * acc[j];
    return;
  }
  if (slice == gemm_slice::first) {
    for (; j + w <= len; j += w) simd::store(raw + j, simd::load(acc + j));
    for (; j < len; ++j) raw[j] = acc[j];
    return;
  }
  if (slice == gemm_slice::middle) {
    for (; j + w <= len; j += w) simd::store(raw + j, simd::load(raw + j) + simd::load(acc + j));
    for (; j < len; ++j) raw[j] += acc[j];
    return;
  }
  const bool add_raw = slice == gemm_slice::last;
  for (; j + w <= len; j += w) {
    B s = simd::load(acc + j);
    if (add_raw) s = simd::load(raw + j) + s;
    e.finish(va * s, j, crow);
  }
  for (; j < len; ++j) {
    T s = acc[j];
    if (add_raw) s = raw[j] + s;
    e.finish(alpha * s, j, crow);
  }
}

}  // namespace detail

}  // namespace autodidact::kernels
