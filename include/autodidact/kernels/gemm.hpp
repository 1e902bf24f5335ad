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
//
// The implementation, Eigen-style, in kernels/gemm/: blocking.hpp (tile and
// block sizes, packing buffers), pack.hpp (operand packing),
// micro_kernel.hpp (register tiles), driver.hpp (loops and threads).

#include <cstddef>  // for std::size_t, std::ptrdiff_t

#include "autodidact/core/threading.hpp"          // for detail::streaming_parallel_elements
#include "autodidact/kernels/common.hpp"          // for transpose, write_mode, gemm_epilogue, detail::check_gemm
#include "autodidact/kernels/gemm/blocking.hpp"  // for detail::gemm_blocking
#include "autodidact/kernels/gemm/driver.hpp"    // for detail::gemm_unpacked, gemm_threaded, gemm_overlaps
#include "autodidact/kernels/gemm/pack.hpp"      // for detail::gemm_pack_b
#include "autodidact/simd/simd.hpp"               // for simd::batch, width, load, store

namespace autodidact::kernels {

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

// ---- the register-tile grid ----------------------------------------------
//
// The GEMM computes C in register tiles of gemm_row_tile<T> rows x
// gemm_column_panel<T> columns (a panel of the packed layout below). A
// product split over threads into whole tiles (token rows on the row grid,
// output columns on the panel grid) computes every element exactly as one
// thread does: the models split their forward this way.
template <kernel_scalar T>
inline constexpr int gemm_row_tile = detail::gemm_blocking<T>::mr;
template <kernel_scalar T>
inline constexpr int gemm_column_panel = detail::gemm_blocking<T>::nr;

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
  kernels::detail::parallel_for(0, blocks, double(m) * n > detail::streaming_parallel_elements, [&](int blk) {
    const int j0 = blk * cb;
    const int j1 = j0 + cb < n ? j0 + cb : n;
    int j = j0;
    if (j1 - j0 == cb) {
      // A whole block: its 8 vectors of columns advance down the rows
      // together, so each row is read as 8 * w contiguous values (whole
      // cache lines, in order) rather than one vector column at a time,
      // which took a line per row of stride lddy (a page at 1024 columns,
      // beyond the prefetchers). Each column is still summed row by row in
      // order: the same bits.
      B s[8];
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) s[v] = simd::load(db + j + v * w);
      for (int i = 0; i < m; ++i) {
        const T* row = dy + std::ptrdiff_t(i) * lddy + j;
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) s[v] += simd::load(row + v * w);
      }
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) simd::store(db + j + v * w, s[v]);
      return;
    }
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
