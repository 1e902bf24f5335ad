#pragma once
// Blocked ("flash") attention for one head: the T x T score matrix is never
// written; query blocks of attention_block rows sweep key blocks of the same
// size with an online softmax, and only the per-row logsumexp is saved for
// backward, which recomputes the probabilities block by block.
//
//   forward:  O = softmax(scale Q Kᵀ, mask) V,   lse[i] = log Σ_j exp(scale q_i·k_j)
//   backward: P = exp(scale Q Kᵀ − lse) (masked: 0), Dᵢ = dOᵢ·Oᵢ,
//             dV = Pᵀ dO, dP = dO Vᵀ, dS = scale P ⊙ (dP − D),
//             dQ = dS K, dK = dSᵀ Q                         (all overwrite)
//
// Shapes: Q, K, V [T, D] rows with leading dimension ld (a head's slice of a
// fused QKV buffer [B,T,3C]); O, dO [T, D] with ldo; dQ, dK, dV [T, D] with
// ldd; lse [T]. The mask is softmax_mask's: row i sees the key prefix
// j < mask.limit(i, T); a row that sees no key gets O = 0 and lse = −inf.
//
// Preconditions: T >= 0, D >= 1, scale > 0, outputs do not overlap inputs.
// Runs on the calling thread (callers split heads over threads); the result
// does not depend on the thread count. The reference twin is
// reference/attention.hpp (the unblocked formula).

#include <cmath>    // for std::exp, std::log
#include <cstddef>  // for std::ptrdiff_t
#include <limits>   // for std::numeric_limits

#include "autodidact/kernels/common.hpp"  // for softmax_mask, transpose, write_mode
#include "autodidact/kernels/gemm.hpp"    // for gemm
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store, exp, fma

namespace autodidact::kernels {

// Rows of a query block and columns of a key block.
inline constexpr int attention_block = 64;

namespace detail {

inline void check_attention(int t, int d, int ld, int ldo, const char* name) {
  require(t >= 0 && d >= 1, name, ": sizes must be T >= 0 and D >= 1 (T = ", t, ", D = ", d, ")");
  require(ld >= d && ldo >= d, name, ": leading dimensions (", ld, ", ", ldo, ") must be >= D = ", d);
}

// y[0..n) = exp(x[0..n) − shift); returns their sum (lanes then tail, fixed order).
template <class T>
inline T attention_exp_shift_sum(int n, const T* x, T shift, T* y) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const B vs(shift);
  B acc(T(0));
  int j = 0;
  for (; j + w <= n; j += w) {
    const B e = simd::exp(simd::load(x + j) - vs);
    simd::store(y + j, e);
    acc += e;
  }
  T s = simd::reduce_sum(acc);
  for (; j < n; ++j) {
    y[j] = std::exp(x[j] - shift);
    s += y[j];
  }
  return s;
}

template <class T>
inline T attention_row_max(int n, const T* x) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  T m = x[0];
  int j = 0;
  if (n >= w) {
    B vm = simd::load(x);
    for (j = w; j + w <= n; j += w) vm = simd::max(vm, simd::load(x + j));
    m = simd::reduce_max(vm);
  }
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

template <class T>
inline void attention_scale_row(int n, T* x, T f) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const B vf(f);
  int j = 0;
  for (; j + w <= n; j += w) simd::store(x + j, simd::load(x + j) * vf);
  for (; j < n; ++j) x[j] *= f;
}

// The online softmax over key blocks that both forwards run: `rows` query
// rows (Q [rows, D], ldq) over kv_len keys and values (ldkv), row i seeing
// keys [0, mask.limit(i, kv_len)); O [rows, D] (ldo); lse (per row, or
// nullptr: not kept) = the row's log-sum-exp, -inf for a row that sees no
// key (its O is 0).
template <kernel_scalar T>
void attention_online_forward(int rows, int kv_len, int d, T scale, const T* q, int ldq, const T* k, const T* v,
                              int ldkv, T* o, int ldo, T* lse, const softmax_mask& mask) {
  constexpr int bs = attention_block;
  constexpr T neg_inf = -std::numeric_limits<T>::infinity();
  alignas(64) T s[bs * bs];
  T m[bs], l[bs];
  for (int i0 = 0; i0 < rows; i0 += bs) {
    const int nr = rows - i0 < bs ? rows - i0 : bs;
    for (int r = 0; r < nr; ++r) {
      m[r] = neg_inf;
      l[r] = T(0);
      for (int c = 0; c < d; ++c) o[std::ptrdiff_t(i0 + r) * ldo + c] = T(0);
    }
    const int kv_end = mask.limit(i0 + nr - 1, kv_len);
    for (int j0 = 0; j0 < kv_end; j0 += bs) {
      const int cols = kv_end - j0 < bs ? kv_end - j0 : bs;
      gemm(transpose::no, transpose::yes, nr, cols, d, scale, q + std::ptrdiff_t(i0) * ldq, ldq,
           k + std::ptrdiff_t(j0) * ldkv, ldkv, write_mode::overwrite, s, bs);
      for (int r = 0; r < nr; ++r) {
        T* sr = s + r * bs;
        int lim = mask.limit(i0 + r, kv_len) - j0;
        lim = lim < 0 ? 0 : lim > cols ? cols : lim;
        if (lim > 0) {
          const T mx = detail::attention_row_max(lim, sr);
          const T mn = mx > m[r] ? mx : m[r];
          const T corr = m[r] == neg_inf ? T(0) : std::exp(m[r] - mn);
          const T sum = detail::attention_exp_shift_sum(lim, sr, mn, sr);
          if (corr != T(1)) detail::attention_scale_row(d, o + std::ptrdiff_t(i0 + r) * ldo, corr);
          l[r] = l[r] * corr + sum;
          m[r] = mn;
        }
        for (int j = lim; j < cols; ++j) sr[j] = T(0);
      }
      gemm(transpose::no, transpose::no, nr, d, cols, T(1), s, bs, v + std::ptrdiff_t(j0) * ldkv, ldkv,
           write_mode::accumulate, o + std::ptrdiff_t(i0) * ldo, ldo);
    }
    for (int r = 0; r < nr; ++r) {
      if (l[r] > T(0)) {
        detail::attention_scale_row(d, o + std::ptrdiff_t(i0 + r) * ldo, T(1) / l[r]);
        if (lse) lse[i0 + r] = m[r] + std::log(l[r]);
      } else if (lse) {
        lse[i0 + r] = neg_inf;
      }
    }
  }
}
}  // namespace detail

template <kernel_scalar T>
void attention_blocked_forward(int t, int d, T scale, const T* q, const T* k, const T* v, int ld, T* o, int ldo,
                               T* lse, const softmax_mask& mask) {
  detail::check_attention(t, d, ld, ldo, "attention_blocked_forward");
  detail::attention_online_forward(t, t, d, scale, q, ld, k, v, ld, o, ldo, lse, mask);
}

// Attention of `rows` new queries over a key/value cache (incremental
// decoding): query row i sits at position mask.row_offset + i among the
// kv_len keys, so with a causal mask it sees keys j <= row_offset + i
// (mask.limit(i, kv_len)). Q [rows, D] (ldq), K and V [kv_len, D] (ldkv),
// O [rows, D] (ldo). The same online softmax over key blocks as
// attention_blocked_forward; no logsumexp is kept (nothing runs backward
// through a cache). A row that sees no key gets O = 0.
// Preconditions: rows >= 0, kv_len >= 0, D >= 1, leading dimensions >= D.
template <kernel_scalar T>
void attention_cached_forward(int rows, int kv_len, int d, T scale, const T* q, int ldq, const T* k,
                              const T* v, int ldkv, T* o, int ldo, const softmax_mask& mask) {
  require(rows >= 0 && kv_len >= 0 && d >= 1, "attention_cached_forward: sizes must be rows >= 0, kv_len >= 0 "
          "and D >= 1 (rows = ", rows, ", kv_len = ", kv_len, ", D = ", d, ")");
  require(ldq >= d && ldkv >= d && ldo >= d, "attention_cached_forward: leading dimensions (", ldq, ", ", ldkv,
          ", ", ldo, ") must be >= D = ", d);
  detail::attention_online_forward(rows, kv_len, d, scale, q, ldq, k, v, ldkv, o, ldo, static_cast<T*>(nullptr),
                                   mask);
}

template <kernel_scalar T>
void attention_blocked_backward(int t, int d, T scale, const T* q, const T* k, const T* v, int ld, const T* o,
                                int ldo, const T* dout, const T* lse, T* dq, T* dk, T* dv, int ldd,
                                const softmax_mask& mask) {
  detail::check_attention(t, d, ld, ldo, "attention_blocked_backward");
  require(ldd >= d, "attention_blocked_backward: ldd = ", ldd, " must be >= D = ", d);
  constexpr int bs = attention_block;
  alignas(64) T p[bs * bs];
  alignas(64) T dp[bs * bs];
  T drow[bs];
  for (int i = 0; i < t; ++i)
    for (int c = 0; c < d; ++c) {
      dq[std::ptrdiff_t(i) * ldd + c] = T(0);
      dk[std::ptrdiff_t(i) * ldd + c] = T(0);
      dv[std::ptrdiff_t(i) * ldd + c] = T(0);
    }
  for (int i0 = 0; i0 < t; i0 += bs) {
    const int rows = t - i0 < bs ? t - i0 : bs;
    for (int r = 0; r < rows; ++r)
      drow[r] = simd::dot(d, dout + std::ptrdiff_t(i0 + r) * ldo, o + std::ptrdiff_t(i0 + r) * ldo);
    const int kv_end = mask.limit(i0 + rows - 1, t);
    const T* qb = q + std::ptrdiff_t(i0) * ld;
    const T* dob = dout + std::ptrdiff_t(i0) * ldo;
    for (int j0 = 0; j0 < kv_end; j0 += bs) {
      const int cols = kv_end - j0 < bs ? kv_end - j0 : bs;
      const T* kb = k + std::ptrdiff_t(j0) * ld;
      const T* vb = v + std::ptrdiff_t(j0) * ld;
      gemm(transpose::no, transpose::yes, rows, cols, d, scale, qb, ld, kb, ld, write_mode::overwrite, p, bs);
      gemm(transpose::no, transpose::yes, rows, cols, d, T(1), dob, ldo, vb, ld, write_mode::overwrite, dp, bs);
      for (int r = 0; r < rows; ++r) {
        T* pr = p + r * bs;
        T* dpr = dp + r * bs;
        int lim = mask.limit(i0 + r, t) - j0;
        lim = lim < 0 ? 0 : lim > cols ? cols : lim;
        if (lim > 0) detail::attention_exp_shift_sum(lim, pr, lse[i0 + r], pr);
        for (int j = 0; j < lim; ++j) dpr[j] = scale * pr[j] * (dpr[j] - drow[r]);
        for (int j = lim; j < cols; ++j) pr[j] = dpr[j] = T(0);
      }
      T* dvb = dv + std::ptrdiff_t(j0) * ldd;
      T* dkb = dk + std::ptrdiff_t(j0) * ldd;
      gemm(transpose::yes, transpose::no, cols, d, rows, T(1), p, bs, dob, ldo, write_mode::accumulate, dvb, ldd);
      gemm(transpose::no, transpose::no, rows, d, cols, T(1), dp, bs, kb, ld, write_mode::accumulate,
           dq + std::ptrdiff_t(i0) * ldd, ldd);
      gemm(transpose::yes, transpose::no, cols, d, rows, T(1), dp, bs, qb, ld, write_mode::accumulate, dkb, ldd);
    }
  }
}

}  // namespace autodidact::kernels
