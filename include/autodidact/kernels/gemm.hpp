#pragma once
// General matrix product with a fused epilogue, and the bias gradient.
//
//   C[M,N] = epilogue(alpha * op(A)[M,K] op(B)[K,N])    write_mode::overwrite
//   C[M,N] += alpha * op(A)[M,K] op(B)[K,N]              write_mode::accumulate
//
// Preconditions:
// - M, N, K >= 0 (K = 0 gives a zero product: C = epilogue(0), or C unchanged).
// - op(A) = A stored [M,K] with lda >= K (transpose::no), or A stored [K,M]
//   with lda >= M (transpose::yes); likewise op(B) = B stored [K,N] with
//   ldb >= N, or B stored [N,K] with ldb >= K.
// - ldc >= N; C does not overlap A or B.
// - The epilogue (gemm_epilogue in common.hpp) is applied in the overwrite
//   case only; passing a non-empty one with accumulate is an error.
// - Leading dimensions let a per-head slice of a fused QKV buffer [B,T,3C]
//   be used in place: head h of Q in batch b is A = qkv + b*T*3C + h*D,
//   lda = 3C.
//
// Uses in the models:
//   Y  = X W^T + b       gemm(no, yes, ...)   W stored [N,K] (out x in, PyTorch Linear)
//   dX += dY W           gemm(no, no, ..., accumulate)
//   dW += dY^T X         gemm(yes, no, ..., accumulate)
//   S  = Q K^T * scale   gemm(no, yes, ...)   alpha = 1/sqrt(D)
//   O  = P V             gemm(no, no, ...)
//   dP = dO V^T, dV += P^T dO, dQ += dS K, dK += dS^T Q
//
// Results do not depend on the number of threads: threads split row blocks
// of C, and each element is always computed by the same code in the same order.

#include <cstddef>  // for std::ptrdiff_t, std::size_t
#include <cstdint>  // for std::uintptr_t, std::int64_t
#include <cstring>  // for std::memcpy (A panels packed on the fly)
#include <memory>   // for std::unique_ptr (per-thread packing buffers)
#include <vector>   // for std::vector (the unpacked (yes, yes) fallback)

#ifdef _OPENMP
#include <omp.h>  // for omp_in_parallel, omp_get_max_threads, omp_get_thread_num
#endif

#include "autodidact/kernels/common.hpp"  // for transpose, write_mode, gemm_epilogue, detail::check_gemm
#include "autodidact/kernels/gelu.hpp"    // for detail::apply_activation(_v)
#include "autodidact/simd/simd.hpp"       // for simd::batch, width, load, store, fma, reduce_sum

namespace autodidact::kernels {

namespace detail {

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
  const T* bias = ep.bias ? ep.bias + j0 : nullptr;
  T* pre = ep.pre_activation ? ep.pre_activation + std::ptrdiff_t(i) * ldc + j0 : nullptr;
  const T* res = ep.residual ? ep.residual + std::ptrdiff_t(i) * ep.ldr + j0 : nullptr;
  for (; j + w <= len; j += w) {
    B z = va * simd::load(acc + j);
    if (bias) z += simd::load(bias + j);
    if (pre) simd::store(pre + j, z);
    if (ep.act != activation::none) z = apply_activation_v(ep.act, z);
    if (res) z += simd::load(res + j);
    simd::store(crow + j, z);
  }
  for (; j < len; ++j) {
    T z = alpha * acc[j];
    if (bias) z += bias[j];
    if (pre) pre[j] = z;
    z = apply_activation(ep.act, z);
    if (res) z += res[j];
    crow[j] = z;
  }
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


}  // namespace detail

namespace detail {
// The unpacked path (register tiles straight from A and B, no cache
// blocking), kept for K = 0 and for the one epilogue the packed path cannot
// finish in place (an activation with a residual that overlaps C and K
// above one K block). Runs on the calling thread only.
template <class T>
void gemm_unpacked(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a,
                   int lda, const T* b, int ldb, write_mode mode, T* c, int ldc,
                   const gemm_epilogue<T>& epilogue) {

  if (trans_a == transpose::no && trans_b == transpose::yes) {
    // Dot-product form: rows of A against rows of B, both contiguous in K.
    constexpr int mr = 2;
    const int blocks = (m + mr - 1) / mr;
    for (int ib = 0; ib < blocks; ++ib) {
      const int i0 = ib * mr;
      if (m - i0 >= 2) gemm_dot_row_block<T, 2>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
      else gemm_dot_row_block<T, 1>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
    }
    return;
  }

  // Broadcast form: B with contiguous rows [K,N]. For (yes, yes), B^T is
  // first copied into such a buffer.
  std::vector<T> packed;
  const T* bk = b;
  std::ptrdiff_t ldbk = ldb;
  if (trans_b == transpose::yes) {
    packed.resize(std::size_t(k) * std::size_t(n));
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) packed[std::size_t(p) * n + j] = b[std::ptrdiff_t(j) * ldb + p];
    bk = packed.data();
    ldbk = n;
  }
  // Element (i, p) of op(A) is a[i*a_rs + p*a_cs].
  const std::ptrdiff_t a_rs = trans_a == transpose::no ? lda : 1;
  const std::ptrdiff_t a_cs = trans_a == transpose::no ? 1 : lda;
  constexpr int mr = 4;
  const int blocks = (m + mr - 1) / mr;
  for (int ib = 0; ib < blocks; ++ib) {
    const int i0 = ib * mr;
    switch (m - i0 >= mr ? mr : m - i0) {
      case 4: gemm_row_block<T, 4>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 3: gemm_row_block<T, 3>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 2: gemm_row_block<T, 2>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      default: gemm_row_block<T, 1>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
    }
  }
}
}  // namespace detail

namespace detail {

// ---- packed, cache-blocked GEMM ------------------------------------------
//
// Goto/BLIS structure, written once against simd::batch<T> (any width):
//   for each NC-wide column block of C (jc):
//     for each KC-deep slice of K (pc):   pack op(B)[pc.., jc..] into NR-wide panels
//       for each MC-high row block (ic):
//         for each MR row panel (ir):     read op(A) straight from A (its panel
//                                         stays in L1; a partial last panel is
//                                         packed, zero-padded)
//           for each NR column panel (jr): micro-kernel MR x NR, K = kc,
//                                          B panels stream from L2 (prefetched),
//                                          the C tile is prefetched
// Packing B makes every transpose case of B the same inner loop; A needs no
// packing (rows of A, or rows of Aᵀ, are broadcast in place). Every element
// of C is computed by the same micro-kernel in the same order whatever the
// thread count or its position.
// Several K slices: the raw partial sums are kept in C (or in
// pre_activation, when the epilogue saves it) and alpha and the epilogue are
// applied with the last slice.

template <class T>
struct gemm_blocking {
  static constexpr int w = simd::width<T>;
  static constexpr int vector_bytes = w * int(sizeof(T));
  // Register tile: MR rows x NV vectors. 8 x 3 zmm (24 accumulators of 32
  // registers) with AVX-512, 6 x 2 (12 of 16) with AVX2/SSE, 4 x 4 scalar.
#ifdef AUTODIDACT_GEMM_MR
  static constexpr int mr = AUTODIDACT_GEMM_MR, nv = AUTODIDACT_GEMM_NV;
#else
  static constexpr int mr = !simd::vectorized ? 4 : vector_bytes >= 64 ? 8 : 6;
  static constexpr int nv = !simd::vectorized ? 4 : vector_bytes >= 64 ? 3 : 2;
#endif
  static constexpr int nr = nv * w;
  // K slice: an A panel (MR x KC) stays in L1 (8 x 384 floats = 12 KB).
#ifdef AUTODIDACT_GEMM_KC_BYTES
  static constexpr int kc = AUTODIDACT_GEMM_KC_BYTES / int(sizeof(T));
#else
  static constexpr int kc = 1536 / int(sizeof(T));
#endif
  // Rows per packed A block (a multiple of MR).
#ifdef AUTODIDACT_GEMM_MC
  static constexpr int mc = mr * (AUTODIDACT_GEMM_MC / mr > 0 ? AUTODIDACT_GEMM_MC / mr : 1);
#else
  static constexpr int mc = mr * (96 / mr > 0 ? 96 / mr : 1);
#endif
  // Columns per packed B block (a multiple of NR): KC x NC about 1 MB, in L2.
  static constexpr int nc_target = (1 << 20) / (kc * int(sizeof(T)));
  static constexpr int nc = nr * (nc_target / nr > 0 ? nc_target / nr : 1);
};

// Per-thread packing buffers, allocated once (fixed size bounded by the
// blocking), so a training step after the first allocates nothing.
template <class T>
struct gemm_buffers {
  using blk = gemm_blocking<T>;
  static constexpr std::size_t a_size = std::size_t(blk::mc) * blk::kc;
  static constexpr std::size_t b_size = std::size_t(blk::nc) * blk::kc;
  static constexpr std::size_t align = 64 / sizeof(T);
  std::unique_ptr<T[]> storage;
  T* a = nullptr;
  T* b = nullptr;
  static gemm_buffers& get() {
    thread_local gemm_buffers buf;
    if (!buf.storage) {
      buf.storage.reset(new T[a_size + b_size + 2 * align]);
      T* p = buf.storage.get();
      p += (align - (reinterpret_cast<std::uintptr_t>(p) / sizeof(T)) % align) % align;
      buf.a = p;
      buf.b = p + a_size + align;
      buf.b += (align - (reinterpret_cast<std::uintptr_t>(buf.b) / sizeof(T)) % align) % align;
    }
    return buf;
  }
};

// op(A)[i0..i0+mc, p0..p0+kc] into MR-high panels: panel q holds, for each
// p, the MR values op(A)[i0 + q*MR + r, p0 + p] (zero past row mc).
template <class T>
inline void gemm_pack_a(transpose ta, const T* a, int lda, int i0, int mc, int p0, int kc, T* out) {
  constexpr int mr = gemm_blocking<T>::mr;
  for (int q = 0; q < mc; q += mr) {
    const int rows = mc - q < mr ? mc - q : mr;
    T* dst = out + std::ptrdiff_t(q) * kc;
    if (ta == transpose::no) {
      // op(A)(i, p) = a[i*lda + p]
      for (int r = 0; r < rows; ++r) {
        const T* src = a + std::ptrdiff_t(i0 + q + r) * lda + p0;
        for (int p = 0; p < kc; ++p) dst[p * mr + r] = src[p];
      }
    } else {
      // op(A)(i, p) = a[p*lda + i]
      for (int p = 0; p < kc; ++p) {
        const T* src = a + std::ptrdiff_t(p0 + p) * lda + i0 + q;
        for (int r = 0; r < rows; ++r) dst[p * mr + r] = src[r];
      }
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
      int c0 = 0;
      if (std::int64_t(ldb) * w < (std::int64_t(1) << 30)) {
        const auto index = simd::strided_index<T>(ldb);
        for (; c0 + w <= cols; c0 += w) {
          const T* src = b + std::ptrdiff_t(j0 + q + c0) * ldb + p0;
          for (int p = 0; p < kc; ++p) simd::store(dst + std::ptrdiff_t(p) * nr + c0, simd::gather(src + p, index));
        }
      }
      for (int c = c0; c < cols; ++c) {
        const T* src = b + std::ptrdiff_t(j0 + q + c) * ldb + p0;
        for (int p = 0; p < kc; ++p) dst[std::ptrdiff_t(p) * nr + c] = src[p];
      }
      if (cols < nr)
        for (int pp = 0; pp < kc; ++pp)
          for (int c = cols; c < nr; ++c) dst[std::ptrdiff_t(pp) * nr + c] = T(0);
    }
  }
}

// The micro-kernel: tile[MR][NR] = A panel (kc x MR) . B panel (kc x NR).
// How the micro-kernel reads op(A): a packed MR-high panel, or straight
// from A stored row-major [M,K] (rows) or [K,M] (cols) with stride lda.
// cols_pack reads like cols and also stores the MR values of each step to
// apack (MR-high panel layout), so the next tiles of the same rows read a
// packed panel: op(A) = Aᵀ (dW += dYᵀX) would otherwise take each step from
// another line of A (strides of a whole row, often a multiple of 1 KB, so
// the panel's lines share a few L1 sets and evict each other).
enum class gemm_a_layout { packed, rows, cols, cols_pack };

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
// more instantiation, cols_pack, was enough to tip it): MiniLM batch 8 was
// 4-5 % slower. A call per tile (kc FMA steps) costs nothing measurable.
template <class T, int MR, int NV, gemm_a_layout L = gemm_a_layout::packed, bool Far = false>
[[gnu::noinline]] void gemm_micro(int kc, const T* __restrict ap, std::ptrdiff_t lda, const T* __restrict bp,
                                  T* __restrict out, std::ptrdiff_t ldo, bool add = false, T alpha = T(1),
                                  T* __restrict apack = nullptr) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  constexpr int nr = NV * w;
  B acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = B(T(0));
  for (int p = 0; p < kc; ++p) {
    B bv[NV];
#ifndef AUTODIDACT_GEMM_NO_PREFETCH
    // B panels stream from L2 (or L3): ask for the lines some steps of K ahead.
#pragma GCC unroll 4
    for (int v = 0; v < NV * w * int(sizeof(T)); v += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(bp + AUTODIDACT_GEMM_PREFETCH_K * nr) + v);
    if constexpr (Far) {
#pragma GCC unroll 4
      for (int v = 0; v < NV * w * int(sizeof(T)); v += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(bp + AUTODIDACT_GEMM_PREFETCH_FAR_K * nr) + v, 0, 2);
    }
#endif
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(bp + v * w);
    if constexpr (L == gemm_a_layout::cols_pack) {
      std::memcpy(apack, ap, MR * sizeof(T));
      apack += MR;
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const B av(L == gemm_a_layout::packed ? ap[r] : L == gemm_a_layout::rows ? ap[r * lda] : ap[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = simd::fma(av, bv[v], acc[r][v]);
    }
    ap += L == gemm_a_layout::packed ? MR : L == gemm_a_layout::rows ? 1 : lda;
    bp += nr;
  }
  if (add) {
    const B va(alpha);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* o = out + r * ldo + v * w;
        simd::store(o, simd::fma(va, acc[r][v], simd::load(o)));
      }
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) simd::store(out + r * ldo + v * w, acc[r][v]);
}

// Which K slice a write-back finishes.
enum class gemm_slice { only, first, middle, last };

// Writes row segment acc[0..len) (raw products of one K slice) to C at
// crow; raw is where partial sums live between slices (pre_activation or C).
template <class T>
inline void gemm_write_row(const T* acc, int len, gemm_slice slice, T alpha, write_mode mode, T* crow,
                           T* raw, const T* bias, T* pre, const T* res, activation act) {
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
    B z = va * s;
    if (bias) z += simd::load(bias + j);
    if (pre) simd::store(pre + j, z);
    if (act != activation::none) z = apply_activation_v(act, z);
    if (res) z += simd::load(res + j);
    simd::store(crow + j, z);
  }
  for (; j < len; ++j) {
    T s = acc[j];
    if (add_raw) s = raw[j] + s;
    T z = alpha * s;
    if (bias) z += bias[j];
    if (pre) pre[j] = z;
    z = apply_activation(act, z);
    if (res) z += res[j];
    crow[j] = z;
  }
}

// One thread's share: rows [m0, m1) and columns [n0, n1) of C, both
// starting on the global MR / NR tile grid.
// With b_packed (op(B) packed whole by pack_b), the B panels are read from
// it in place instead of being packed here.
template <class T>
void gemm_packed_range(transpose ta, transpose tb, int m0, int m1, int n0, int n1, int k, T alpha,
                       const T* a, int lda, const T* b, int ldb, const T* b_packed, write_mode mode, T* c,
                       int ldc, const gemm_epilogue<T>& ep) {
  using blk = gemm_blocking<T>;
  constexpr int mr = blk::mr, nr = blk::nr;
  gemm_buffers<T>& buf = gemm_buffers<T>::get();
  alignas(64) T tile[mr * nr];
  const bool pre_raw = ep.pre_activation != nullptr;
  // K slices and column blocks of near-equal size (a short last slice would
  // pay a whole write-back for little work); column blocks stay multiples
  // of NR so the tile grid, and hence every element's code path, is the
  // same for any split over threads.
  const int k_slices = (k + blk::kc - 1) / blk::kc;
  const int kc_step = (k + k_slices - 1) / k_slices;
  // Column blocks fill the B buffer (about 1 MB, in L2) at this slice depth:
  // a shallow K (a weight gradient over few tokens) gets wider blocks, so
  // A is streamed fewer times.
  const int nc_max = int(gemm_buffers<T>::b_size / std::size_t(kc_step)) / nr * nr;
  const int n_blocks = (n1 - n0 + nc_max - 1) / nc_max;
  const int nc_step = ((n1 - n0 + n_blocks - 1) / n_blocks + nr - 1) / nr * nr;
  for (int jc = n0; jc < n1; jc += nc_step) {
    const int nc = n1 - jc < nc_step ? n1 - jc : nc_step;
    for (int pc = 0; pc < k; pc += kc_step) {
      const int kc = k - pc < kc_step ? k - pc : kc_step;
      const bool first = pc == 0, last = pc + kc >= k;
      const gemm_slice slice = first && last ? gemm_slice::only
                               : first       ? gemm_slice::first
                               : last        ? gemm_slice::last
                                             : gemm_slice::middle;
      // Panel q of this slice: NR columns x kc rows, row stride NR; in a
      // prepacked B the panel holds all K rows, so the slice starts pc rows in.
      const T* bblock = b_packed ? b_packed + std::ptrdiff_t(jc) * k + std::ptrdiff_t(pc) * nr : buf.b;
      const std::ptrdiff_t panel_stride = b_packed ? std::ptrdiff_t(nr) * k : std::ptrdiff_t(nr) * kc;
      if (!b_packed) gemm_pack_b(tb, b, ldb, pc, kc, jc, nc, buf.b);
      for (int ic = m0; ic < m1; ic += blk::mc) {
        const int mc = m1 - ic < blk::mc ? m1 - ic : blk::mc;
        // Full MR panels are read straight from A (no packing pass); a last,
        // partial panel is packed (zero-padded). Same arithmetic either way.
        // op(A) = Aᵀ takes each step of K from another line of A, and row
        // strides that are multiples of 512 B put a panel's lines in a few
        // L1 sets: there the first tile of a panel also stores it packed
        // (cols_pack) and the other tiles read that copy. Measured on the
        // dW shapes of compare/gemm: 1-4 % faster; not at row strides past
        // 64 KB (a 50304-row dW: each step is a new page), where it was 5 %
        // slower.
        const int full = mc / mr * mr;
        const bool pack_at = ta == transpose::yes && nc > nr && std::size_t(lda) * sizeof(T) <= 65536;
        if (full < mc) gemm_pack_a(ta, a, lda, ic + full, mc - full, pc, kc, buf.a + std::ptrdiff_t(full) * kc);
        for (int ir = 0; ir < mc; ir += mr) {
          const int rows = mc - ir < mr ? mc - ir : mr;
          for (int jr = 0; jr < nc; jr += nr) {
            const int cols = nc - jr < nr ? nc - jr : nr;
            const T* bpanel = bblock + std::ptrdiff_t(jr / nr) * panel_stride;
            // Bring the C tile (or the raw sums) towards L1 while the
            // micro-kernel runs: written below, often not in cache.
            for (int r = 0; r < rows; ++r) {
              const char* crow = reinterpret_cast<const char*>(
                  (pre_raw ? ep.pre_activation : c) + std::ptrdiff_t(ic + ir + r) * ldc + jc + jr);
              for (int off = 0; off < cols * int(sizeof(T)); off += 64) __builtin_prefetch(crow + off, 1, 3);
            }
            const int j = jc + jr;
            // A whole tile whose write-back is a plain store or add (C +=
            // alpha AB; the first or a middle K slice of raw sums) is
            // written by the micro-kernel itself, without the tile buffer.
            const bool direct = rows == mr && cols == nr &&
                                (mode == write_mode::accumulate || slice == gemm_slice::first ||
                                 slice == gemm_slice::middle);
            T* out = tile;
            std::ptrdiff_t ldo = nr;
            bool add = false;
            T out_alpha = T(1);
            if (direct) {
              const std::ptrdiff_t i0 = ic + ir;
              out = (mode == write_mode::overwrite && pre_raw ? ep.pre_activation : c) + i0 * ldc + j;
              ldo = ldc;
              add = mode == write_mode::accumulate || slice == gemm_slice::middle;
              out_alpha = mode == write_mode::accumulate ? alpha : T(1);
            }
            // The partial panel (packed above), or the panel of these rows
            // packed on the fly by the first tile (op(A) = Aᵀ, see below).
            T* apanel = ir >= full ? buf.a + std::ptrdiff_t(full) * kc : buf.a;
            if (ir >= full || (pack_at && jr > 0))
              gemm_micro<T, mr, blk::nv>(kc, apanel, 0, bpanel, out, ldo, add, out_alpha);
            else if (ta == transpose::no && b_packed)
              gemm_micro<T, mr, blk::nv, gemm_a_layout::rows, true>(kc, a + std::ptrdiff_t(ic + ir) * lda + pc, lda,
                                                                    bpanel, out, ldo, add, out_alpha);
            else if (ta == transpose::no)
              gemm_micro<T, mr, blk::nv, gemm_a_layout::rows>(kc, a + std::ptrdiff_t(ic + ir) * lda + pc, lda,
                                                              bpanel, out, ldo, add, out_alpha);
            else if (pack_at)
              gemm_micro<T, mr, blk::nv, gemm_a_layout::cols_pack>(kc, a + std::ptrdiff_t(pc) * lda + ic + ir, lda,
                                                                   bpanel, out, ldo, add, out_alpha, apanel);
            else
              gemm_micro<T, mr, blk::nv, gemm_a_layout::cols>(kc, a + std::ptrdiff_t(pc) * lda + ic + ir, lda,
                                                              bpanel, out, ldo, add, out_alpha);
            if (direct) continue;
            for (int r = 0; r < rows; ++r) {
              const std::ptrdiff_t i = ic + ir + r;
              T* crow = c + i * ldc + j;
              T* pre = pre_raw ? ep.pre_activation + i * ldc + j : nullptr;
              gemm_write_row(tile + r * nr, cols, slice, alpha, mode, crow, pre_raw ? pre : crow,
                             ep.bias ? ep.bias + j : nullptr, pre,
                             ep.residual ? ep.residual + i * ep.ldr + j : nullptr, ep.act);
            }
          }
        }
      }
    }
  }
}

// Whether [p, p + span) and [q, q + span2) overlap.
template <class T>
inline bool gemm_overlaps(const T* p, std::ptrdiff_t span, const T* q, std::ptrdiff_t span2) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(p), b0 = reinterpret_cast<std::uintptr_t>(q);
  return a0 < b0 + std::uintptr_t(span2) * sizeof(T) && b0 < a0 + std::uintptr_t(span) * sizeof(T);
}

// Above this many multiply-adds (about 30 µs on one core) a product is
// split over threads, when not already inside a parallel region (a GEMM
// never opens a nested team). Lower, the fork/join costs more than it saves
// and, on a machine whose other core is busy, a spinning barrier waits for
// a descheduled worker (measured: ms per call).
inline constexpr double gemm_packed_parallel_work = 4194304.0;

inline bool gemm_in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return true;
#endif
}

inline int gemm_max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace detail

namespace detail {
// Splits C over threads (outermost level only) into row or column ranges on
// the register-tile grid; each thread packs its own operands (no barriers).
template <class T>
void gemm_threaded(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a, int lda,
                   const T* b, int ldb, const T* b_packed, write_mode mode, T* c, int ldc,
                   const gemm_epilogue<T>& epilogue) {
  using blk = gemm_blocking<T>;
  const double work = double(m) * n * k;
  int threads = 1;
  if (work > gemm_packed_parallel_work && !gemm_in_parallel()) threads = gemm_max_threads();
  const int mtiles = (m + blk::mr - 1) / blk::mr, ntiles = (n + blk::nr - 1) / blk::nr;
  // Split the longer side: a column chunk re-reads A (M x K), a row chunk
  // re-packs B (K x N) unless B is prepacked.
  const bool split_rows = mtiles * blk::mr >= ntiles * blk::nr ? mtiles >= 2 : ntiles < 2;
  const int tiles = split_rows ? mtiles : ntiles;
  if (threads > tiles) threads = tiles;
  if (threads <= 1) {
    gemm_packed_range(trans_a, trans_b, 0, m, 0, n, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc, epilogue);
    return;
  }
#ifdef _OPENMP
  // Two chunks per thread, handed out dynamically: a thread that the OS
  // deschedules (a shared machine) delays at most its current chunk.
  const int chunks = tiles < 2 * threads ? tiles : 2 * threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int ch = 0; ch < chunks; ++ch) {
    const int t0 = int(std::int64_t(tiles) * ch / chunks), t1 = int(std::int64_t(tiles) * (ch + 1) / chunks);
    if (split_rows) {
      const int r0 = t0 * blk::mr, r1 = t1 * blk::mr < m ? t1 * blk::mr : m;
      gemm_packed_range(trans_a, trans_b, r0, r1, 0, n, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc,
                        epilogue);
    } else {
      const int c0 = t0 * blk::nr, c1 = t1 * blk::nr < n ? t1 * blk::nr : n;
      gemm_packed_range(trans_a, trans_b, 0, m, c0, c1, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc,
                        epilogue);
    }
  }
#endif
}
}  // namespace detail

// C (=|+=) alpha * op(A) op(B), then the epilogue (overwrite only).
//   A: [M,K] or [K,M] (lda)   B: [K,N] or [N,K] (ldb)   C: [M,N] (ldc)
template <kernel_scalar T>
void gemm(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, write_mode mode, T* c, int ldc,
          const gemm_epilogue<T>& epilogue = {}) {
  detail::check_gemm(trans_a, trans_b, m, n, k, lda, ldb, ldc, mode, epilogue.empty(),
                     epilogue.residual != nullptr, epilogue.ldr);
  if (m == 0 || n == 0) return;
  using blk = detail::gemm_blocking<T>;
  if (k == 0) {
    detail::gemm_unpacked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, mode, c, ldc, epilogue);
    return;
  }
  if (mode == write_mode::overwrite && k > blk::kc && epilogue.pre_activation == nullptr &&
      epilogue.residual != nullptr &&
      detail::gemm_overlaps(epilogue.residual, std::ptrdiff_t(m - 1) * epilogue.ldr + n, c,
                            std::ptrdiff_t(m - 1) * ldc + n)) {
    // Partial sums cannot be kept in C without losing the residual.
    detail::gemm_unpacked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, mode, c, ldc, epilogue);
    return;
  }
  detail::gemm_threaded(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, static_cast<const T*>(nullptr), mode,
                        c, ldc, epilogue);
}

// ---- prepacked B -----------------------------------------------------------
//
// A matrix used as op(B) many times (a weight) can be packed once into the
// layout gemm's inner loop reads: NR-wide column panels of op(B)[K,N], each
// K x NR row-major, the last one zero-padded. gemm_prepacked then skips the
// packing (for a weight, the transpose gather) on every call; its results
// are bitwise those of gemm on the unpacked B. The layout depends on the
// SIMD width of the build (NR = a few vectors), so a packed copy is not a
// file format: pack at load, and again after B changes.

// Elements a packed op(B)[K,N] takes.
template <kernel_scalar T>
constexpr std::size_t packed_b_elements(int k, int n) {
  constexpr int nr = detail::gemm_blocking<T>::nr;
  return std::size_t((n + nr - 1) / nr) * std::size_t(nr) * std::size_t(k < 0 ? 0 : k);
}

// out[packed_b_elements(k, n)] = op(B) packed; B as in gemm: [K,N] (no) or
// [N,K] (yes), leading dimension ldb.
template <kernel_scalar T>
void pack_b(transpose trans_b, int k, int n, const T* b, int ldb, T* out) {
  detail::check_rows("pack_b", k, n);
  detail::check_ld("pack_b", "ldb", ldb, trans_b == transpose::no ? n : k);
  if (k == 0 || n == 0) return;
  detail::gemm_pack_b(trans_b, b, ldb, 0, k, 0, n, out);
}

// gemm with op(B) given packed by pack_b (same k and n). The residual of the
// epilogue may not overlap C when K spans several slices (gemm handles that
// case by an unpacked path, which needs B itself).
template <kernel_scalar T>
void gemm_prepacked(transpose trans_a, int m, int n, int k, T alpha, const T* a, int lda, const T* b_packed,
                    write_mode mode, T* c, int ldc, const gemm_epilogue<T>& epilogue = {}) {
  detail::check_gemm(trans_a, transpose::no, m, n, k, lda, n > 0 ? n : 1, ldc, mode, epilogue.empty(),
                     epilogue.residual != nullptr, epilogue.ldr);
  if (m == 0 || n == 0) return;
  using blk = detail::gemm_blocking<T>;
  require(b_packed != nullptr || k == 0, "gemm_prepacked: b_packed is null");
  if (k == 0) {
    detail::gemm_unpacked(trans_a, transpose::no, m, n, k, alpha, a, lda, b_packed, n, mode, c, ldc, epilogue);
    return;
  }
  require(!(mode == write_mode::overwrite && k > blk::kc && epilogue.pre_activation == nullptr &&
            epilogue.residual != nullptr &&
            detail::gemm_overlaps(epilogue.residual, std::ptrdiff_t(m - 1) * epilogue.ldr + n, c,
                                  std::ptrdiff_t(m - 1) * ldc + n)),
          "gemm_prepacked: the residual overlaps C with K = ", k, " > ", blk::kc,
          " (use gemm with the unpacked B for an in-place residual)");
  detail::gemm_threaded(trans_a, transpose::no, m, n, k, alpha, a, lda, b_packed, n, b_packed, mode, c, ldc,
                        epilogue);
}

// db[j] += sum_i dY[i, j].   dY: [M,N] (lddy)   db: [N]
// Deterministic: threads split column ranges; rows are summed in order.
template <kernel_scalar T>
void bias_backward(int m, int n, const T* dy, int lddy, T* db) {
  detail::check_rows("bias_backward", m, n);
  detail::check_ld("bias_backward", "lddy", lddy, n);
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  constexpr int cb = 8 * w;  // columns per parallel block
  const int blocks = (n + cb - 1) / cb;
  kernels::detail::parallel_for(0, blocks, double(m) * n > 65536.0, [&](int blk) {
    const int j0 = blk * cb;
    const int j1 = j0 + cb < n ? j0 + cb : n;
    int j = j0;
    for (; j + w <= j1; j += w) {
      B s = simd::load(db + j);
      for (int i = 0; i < m; ++i) s += simd::load(dy + std::ptrdiff_t(i) * lddy + j);
      simd::store(db + j, s);
    }
    for (; j < j1; ++j) {
      T s = db[j];
      for (int i = 0; i < m; ++i) s += dy[std::ptrdiff_t(i) * lddy + j];
      db[j] = s;
    }
  });
}

}  // namespace autodidact::kernels
