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

#include <cstddef>  // for std::ptrdiff_t
#include <vector>   // for std::vector (the packed B of the (yes, yes) case)

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

// Above this many multiply-adds a product is split over threads.
inline constexpr double gemm_parallel_work = 65536.0;

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
  [[maybe_unused]] const bool parallel = double(m) * n * (k > 0 ? k : 1) > detail::gemm_parallel_work;

  if (trans_a == transpose::no && trans_b == transpose::yes) {
    // Dot-product form: rows of A against rows of B, both contiguous in K.
    constexpr int mr = 2;
    const int blocks = (m + mr - 1) / mr;
AUTODIDACT_OMP_FOR(parallel)
    for (int ib = 0; ib < blocks; ++ib) {
      const int i0 = ib * mr;
      if (m - i0 >= 2) detail::gemm_dot_row_block<T, 2>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
      else detail::gemm_dot_row_block<T, 1>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
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
AUTODIDACT_OMP_FOR(parallel)
  for (int ib = 0; ib < blocks; ++ib) {
    const int i0 = ib * mr;
    switch (m - i0 >= mr ? mr : m - i0) {
      case 4: detail::gemm_row_block<T, 4>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 3: detail::gemm_row_block<T, 3>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 2: detail::gemm_row_block<T, 2>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      default: detail::gemm_row_block<T, 1>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
    }
  }
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
AUTODIDACT_OMP_FOR(double(m) * n > 65536.0)
  for (int blk = 0; blk < blocks; ++blk) {
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
  }
}

}  // namespace autodidact::kernels
