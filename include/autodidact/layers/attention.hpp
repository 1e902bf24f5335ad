#pragma once
// Multi-head self-attention with a fused QKV projection, bidirectional with a
// per-sequence padding mask (BERT) or causal (GPT-2).
//
// Shapes: N = B·T tokens, C channels, H heads of D = C/H channels.
//   forward   qkv[N, 3C] = x Wqkvᵀ + bqkv            (Q | K | V, head h at h·D)
//             per (b, h): S = Q Kᵀ,  P = softmax(S / √D, mask) [T, T]
//                         ctx[b, :, h] = P' V          (P' = dropout(P))
//             y[N, C] = ctx Wprojᵀ + bproj (+ residual)
//   backward  dctx = dy Wproj;  per (b, h): dP' = dctx Vᵀ, dV = P'ᵀ dctx,
//             dP = dropout(dP'), dS = softmax'(P, dP) / √D,
//             dQ = dS K, dK = dSᵀ Q;  then the QKV projection's backward.
//   mask      key j is visible to query i when j < length[b] and, causal,
//             j <= i (HF: the additive −inf mask on padded keys).
//   Without attention dropout the heads run the blocked kernel
//   (kernels/attention.hpp): S and P are never written; the cache's probs
//   slot holds only the per-row logsumexp [B, H, T] and backward recomputes
//   P block by block (dprobs is not used). With attention dropout, P is
//   materialised as before so the dropped P' can be formed element by element.
//
// PyTorch: BertSelfAttention + BertSelfOutput.dense, GPT2Attention
// (c_attn, c_proj), attn_implementation="eager".

#include <cmath>    // for std::sqrt
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t

#include "autodidact/kernels/attention.hpp"  // for attention_blocked_forward/backward
#include "autodidact/kernels/common.hpp"   // for softmax_mask, transpose, write_mode
#include "autodidact/kernels/gemm.hpp"     // for gemm
#include "autodidact/kernels/softmax.hpp"  // for softmax_forward, softmax_backward
#include "autodidact/layers/dropout.hpp"   // for dropout_site
#include "autodidact/layers/linear.hpp"    // for linear_params, linear_forward

namespace autodidact::layers {

template <class T>
struct attention_params {
  linear_params<T> qkv;   // [3C, C], [3C]
  linear_params<T> proj;  // [C, C], [C]
  int heads = 0;
  bool causal = false;
};

template <class T>
struct attention_grads {
  linear_grads<T> qkv;
  linear_grads<T> proj;
};

// Saved for backward (all in the activation arena).
template <class T>
struct attention_cache {
  T* qkv = nullptr;      // [N, 3C]
  T* probs = nullptr;    // [B, H, T, T] softmax output before dropout (with attention
                         // dropout), else its first B·H·T entries: per-row logsumexp
  T* context = nullptr;  // [N, C] heads concatenated (after dropout of P)
};

struct attention_shape {
  int batch = 0;                       // B
  int seq = 0;                         // T
  const std::int32_t* lengths = nullptr;  // [B] valid tokens per sequence (null: all T)
};

namespace detail {
inline int visible_keys(const attention_shape& s, int b) { return s.lengths ? s.lengths[b] : s.seq; }
}  // namespace detail

// The forward pass in three phases, so a caller that already runs a team
// of threads over token rows (models' forward) can do the token-local parts
// on its own rows and meet the other threads only around the heads:
//   attention_qkv_forward     rows [r0, r1): qkv = x Wqkvᵀ + bqkv
//   attention_heads_forward   all (batch, head) pairs: context = softmax(Q Kᵀ/√D) V
//   attention_output_forward  rows [r0, r1): y = context Wprojᵀ + bproj (+ residual)
// attention_forward runs the three over all rows.

template <class T>
void attention_qkv_forward(const attention_params<T>& p, int r0, int r1, const T* x,
                           const attention_cache<T>& cache) {
  const int c = p.proj.out;
  linear_forward(p.qkv, r1 - r0, x + std::ptrdiff_t(r0) * c, cache.qkv + std::ptrdiff_t(r0) * 3 * c);
}

// team: called by every thread of an enclosing parallel region (the heads
// are shared out among them, with a barrier at the end); otherwise the heads
// run in their own parallel loop.
template <class T>
void attention_heads_forward(const attention_params<T>& p, const attention_shape& s,
                             const attention_cache<T>& cache, const dropout_site& attn_drop = {},
                             bool team = false) {
  using kernels::transpose;
  using kernels::write_mode;
  const int c = p.proj.out, h_count = p.heads, d = c / h_count, t = s.seq;
  const int ld = 3 * c;
  const T scale = T(1) / std::sqrt(T(d));
  const std::ptrdiff_t tt = std::ptrdiff_t(t) * t;
  auto head = [&](int bh) {
    const int b = bh / h_count, h = bh % h_count;
    const T* q = cache.qkv + std::ptrdiff_t(b) * t * ld + h * d;
    const T* k = q + c;
    const T* v = q + 2 * c;
    if (!attn_drop.active()) {
      const kernels::softmax_mask mask{.valid_cols = detail::visible_keys(s, b), .causal = p.causal};
      kernels::attention_blocked_forward(t, d, scale, q, k, v, ld, cache.context + std::ptrdiff_t(b) * t * c + h * d,
                                         c, cache.probs + std::ptrdiff_t(bh) * t, mask);
      return;
    }
    T* prob = cache.probs + bh * tt;
    kernels::gemm(transpose::no, transpose::yes, t, t, d, T(1), q, ld, k, ld, write_mode::overwrite, prob, t);
    const kernels::softmax_mask mask{.valid_cols = detail::visible_keys(s, b), .causal = p.causal};
    kernels::softmax_forward(t, t, scale, prob, t, prob, t, mask);
    T* ctx = cache.context + std::ptrdiff_t(b) * t * c + h * d;
    // With attention dropout, P' = dropout(P) is drawn element by element
    // while ctx = P' V is formed, so the saved P stays undropped for backward.
    for (int i = 0; i < t; ++i) {
      T* row = prob + std::ptrdiff_t(i) * t;
      // ctx[i] = Σ_j P'[i, j] V[j], with P' = dropout(P) drawn per element.
      for (int jd = 0; jd < d; ++jd) ctx[std::ptrdiff_t(i) * c + jd] = T(0);
      for (int j = 0; j < t; ++j) {
        T pij = row[j];
        dropout_apply(attn_drop, 1, &pij, bh * tt + std::ptrdiff_t(i) * t + j);
        if (pij == T(0)) continue;
        const T* vj = v + std::ptrdiff_t(j) * ld;
        for (int jd = 0; jd < d; ++jd) ctx[std::ptrdiff_t(i) * c + jd] += pij * vj[jd];
      }
    }
  };
  const int pairs = s.batch * h_count;
  if (team) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int bh = 0; bh < pairs; ++bh) head(bh);
    return;
  }
  kernels::detail::parallel_for(0, pairs, true, [&](int bh) { head(bh); });
}

template <class T>
void attention_output_forward(const attention_params<T>& p, int r0, int r1, const attention_cache<T>& cache,
                              T* y, const T* residual) {
  const int c = p.proj.out;
  const std::ptrdiff_t off = std::ptrdiff_t(r0) * c;
  kernels::gemm_epilogue<T> ep{};
  if (residual) {
    ep.residual = residual + off;
    ep.ldr = c;
  }
  linear_forward(p.proj, r1 - r0, cache.context + off, y + off, ep);
}

// y[N, C] = attention(x[N, C]) (+ residual[N, C] if given, may be null).
template <class T>
void attention_forward(const attention_params<T>& p, const attention_shape& s, const T* x,
                       const attention_cache<T>& cache, T* y, const T* residual,
                       const dropout_site& attn_drop = {}) {
  const int n = s.batch * s.seq;
  attention_qkv_forward(p, 0, n, x, cache);
  attention_heads_forward(p, s, cache, attn_drop);
  attention_output_forward(p, 0, n, cache, y, residual);
}

// Accumulates the parameter gradients and dx[N, C] from dy[N, C].
// Scratch: dctx [N, C], dqkv [N, 3C], dprobs [B, H, T, T].
template <class T>
void attention_backward(const attention_params<T>& p, const attention_grads<T>& g, const attention_shape& s,
                        const T* x, const attention_cache<T>& cache, const T* dy, T* dx, T* dctx, T* dqkv,
                        T* dprobs, const dropout_site& attn_drop = {}) {
  using kernels::transpose;
  using kernels::write_mode;
  const int c = p.proj.out, h_count = p.heads, d = c / h_count, t = s.seq;
  const int n = s.batch * t;
  const int ld = 3 * c;
  // Output projection: dWproj += dyᵀ ctx, dbproj += Σ dy, dctx = dy Wproj.
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n) * c; ++i) dctx[i] = T(0);
  linear_backward(p.proj, g.proj, n, cache.context, dy, dctx);
  const T scale = T(1) / std::sqrt(T(d));
  const std::ptrdiff_t tt = std::ptrdiff_t(t) * t;
  kernels::detail::parallel_for(0, s.batch * h_count, true, [&](int bh) {
    const int b = bh / h_count, h = bh % h_count;
    const std::ptrdiff_t row0 = std::ptrdiff_t(b) * t;
    const T* q = cache.qkv + row0 * ld + h * d;
    const T* k = q + c;
    const T* v = q + 2 * c;
    T* dq = dqkv + row0 * ld + h * d;
    T* dk = dq + c;
    T* dv = dq + 2 * c;
    const T* dc = dctx + row0 * c + h * d;
    if (!attn_drop.active()) {
      const kernels::softmax_mask mask{.valid_cols = detail::visible_keys(s, b), .causal = p.causal};
      kernels::attention_blocked_backward(t, d, scale, q, k, v, ld, cache.context + row0 * c + h * d, c, dc,
                                          cache.probs + std::ptrdiff_t(bh) * t, dq, dk, dv, ld, mask);
      return;
    }
    const T* prob = cache.probs + bh * tt;
    T* dp = dprobs + bh * tt;
    // dP' = dctx Vᵀ  [T, T]
    kernels::gemm(transpose::no, transpose::yes, t, t, d, T(1), dc, c, v, ld, write_mode::overwrite, dp, t);
    {
      // dV = P'ᵀ dctx with P' recomputed element by element; dP = dropout(dP').
      for (int i = 0; i < t; ++i)
        for (int jd = 0; jd < d; ++jd) dv[std::ptrdiff_t(i) * ld + jd] = T(0);
      for (int i = 0; i < t; ++i) {
        for (int j = 0; j < t; ++j) {
          const std::ptrdiff_t e = bh * tt + std::ptrdiff_t(i) * t + j;
          T pij = prob[std::ptrdiff_t(i) * t + j];
          dropout_apply(attn_drop, 1, &pij, e);
          if (pij != T(0)) {
            for (int jd = 0; jd < d; ++jd)
              dv[std::ptrdiff_t(j) * ld + jd] += pij * dc[std::ptrdiff_t(i) * c + jd];
          }
          dropout_backward(attn_drop, 1, dp + std::ptrdiff_t(i) * t + j, e);
        }
      }
    }
    // dS = softmax'(P, dP) (the 1/√D is folded in by the kernel's scale).
    const kernels::softmax_mask mask{.valid_cols = detail::visible_keys(s, b), .causal = p.causal};
    kernels::softmax_backward(t, t, scale, prob, t, dp, t, dp, t, mask);
    kernels::gemm(transpose::no, transpose::no, t, d, t, T(1), dp, t, k, ld, write_mode::overwrite, dq, ld);
    kernels::gemm(transpose::yes, transpose::no, t, d, t, T(1), dp, t, q, ld, write_mode::overwrite, dk, ld);
  });
  linear_backward(p.qkv, g.qkv, n, x, dqkv, dx);
}

}  // namespace autodidact::layers
