#pragma once
// A Transformer block, post-LN (BERT) or pre-LN (GPT-2), chosen by the
// config's norm_placement. N = B·T tokens, C channels.
//
// post-LN   r1 = x + drop(Attn(x)),    h1 = LN1(r1)
//           r2 = h1 + drop(FF(h1)),    y  = LN2(r2)
// pre-LN    a  = LN1(x),  r1 = x + drop(Attn(a))
//           m  = LN2(r1), r2 = r1 + drop(FF(m)),  y = r2
//
// backward mirrors it; the residual paths add the incoming gradient.
//
// PyTorch: BertLayer (attention.output.LayerNorm = LN1, output.LayerNorm =
// LN2) and GPT2Block (ln_1 = LN1, ln_2 = LN2).

#include <cstddef>  // for std::ptrdiff_t
#include <cstring>  // for std::memcpy

#include "autodidact/config.hpp"               // for norm_placement, gelu_kind
#include "autodidact/layers/attention.hpp"     // for attention_forward, attention_backward
#include "autodidact/layers/dropout.hpp"       // for dropout_site
#include "autodidact/layers/feed_forward.hpp"  // for feed_forward_forward, feed_forward_backward
#include "autodidact/layers/layernorm.hpp"     // for layernorm_forward, layernorm_backward

namespace autodidact::layers {

template <class T>
struct block_params {
  layernorm_params<T> ln1, ln2;
  attention_params<T> attention;
  feed_forward_params<T> ff;
  norm_placement norm = norm_placement::post;
};

template <class T>
struct block_grads {
  layernorm_grads<T> ln1, ln2;
  attention_grads<T> attention;
  feed_forward_grads<T> ff;
};

// The activations one block saves (slots of models::block_activations).
template <class T>
struct block_cache {
  T* ln1 = nullptr;  // [N, C] post: h1; pre: a
  T* ln1_mean = nullptr;
  T* ln1_rstd = nullptr;  // [N]
  attention_cache<T> attention;
  T* residual1 = nullptr;  // [N, C]
  T* ln2 = nullptr;        // [N, C] post: y; pre: m
  T* ln2_mean = nullptr;
  T* ln2_rstd = nullptr;  // [N]
  feed_forward_cache<T> ff;
  T* residual2 = nullptr;  // [N, C]

  // The block's output: LN2 (post-LN) or the second residual (pre-LN).
  const T* output(norm_placement norm) const { return norm == norm_placement::post ? ln2 : residual2; }
};

struct block_dropout {
  dropout_site attention;  // on the attention probabilities
  dropout_site attn_out;   // on the attention output before the residual add
  dropout_site ff_out;     // on the feed-forward output before the residual add
};

// Backward scratch, each [N, C] unless noted.
template <class T>
struct block_scratch {
  T* c0 = nullptr;
  T* c1 = nullptr;
  T* c2 = nullptr;
  T* c3 = nullptr;
  T* qkv = nullptr;    // [N, 3C]
  T* f = nullptr;      // [N, F]
  T* probs = nullptr;  // [B, H, T, T]
  T* gain = nullptr;   // [C] sink for frozen LayerNorm gradients
  T* bias = nullptr;   // [C]
};

namespace detail {
template <class T>
void add_into(std::ptrdiff_t n, const T* src, T* dst) {
  for (std::ptrdiff_t i = 0; i < n; ++i) dst[i] += src[i];
}
template <class T>
void zero(std::ptrdiff_t n, T* dst) {
  for (std::ptrdiff_t i = 0; i < n; ++i) dst[i] = T(0);
}
template <class T>
void copy(std::ptrdiff_t n, const T* src, T* dst) {
  std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
}
}  // namespace detail

// The forward pass in phases over token rows, for callers that run one team
// of threads over rows for the whole stack (models' forward): only the
// attention heads need every row, so a block costs the team two meetings
// (before and after the heads) instead of one per kernel.
//   block_forward_before_heads  rows [r0, r1): pre-LN's LN1, the QKV projection
//   attention_heads_forward     every (batch, head)
//   block_forward_after_heads   rows [r0, r1): projection + residual, LayerNorms, feed-forward
// block_forward runs the three over all rows. Element-wise work (dropout
// included: its mask is keyed by element index) is the same for any split.

template <class T>
void block_forward_before_heads(const block_params<T>& p, int r0, int r1, const T* x,
                                const block_cache<T>& cache) {
  const int c = p.ln1.channels;
  const std::ptrdiff_t off = std::ptrdiff_t(r0) * c;
  const T* attn_in = x;
  if (p.norm == norm_placement::pre) {
    layernorm_forward(p.ln1, r1 - r0, x + off, cache.ln1 + off, {cache.ln1_mean + r0, cache.ln1_rstd + r0});
    attn_in = cache.ln1;
  }
  attention_qkv_forward(p.attention, r0, r1, attn_in, cache.attention);
}

template <class T>
void block_forward_after_heads(const block_params<T>& p, int r0, int r1, const T* x,
                               const block_cache<T>& cache, const block_dropout& drop = {}) {
  const int n = r1 - r0;
  const int c = p.ln1.channels;
  const std::ptrdiff_t off = std::ptrdiff_t(r0) * c, nc = std::ptrdiff_t(n) * c;
  const bool post = p.norm == norm_placement::post;
  auto rows = [&](auto* ptr) { return ptr + off; };
  if (drop.attn_out.active()) {
    attention_output_forward(p.attention, r0, r1, cache.attention, cache.residual1, static_cast<const T*>(nullptr));
    dropout_apply(drop.attn_out, nc, rows(cache.residual1), off);
    detail::add_into(nc, rows(x), rows(cache.residual1));
  } else {
    attention_output_forward(p.attention, r0, r1, cache.attention, cache.residual1, x);
  }
  // Feed-forward sub-layer.
  const T* ff_in;
  if (post) {
    layernorm_forward(p.ln1, n, rows(cache.residual1), rows(cache.ln1), {cache.ln1_mean + r0, cache.ln1_rstd + r0});
    ff_in = rows(cache.ln1);
  } else {
    layernorm_forward(p.ln2, n, rows(cache.residual1), rows(cache.ln2), {cache.ln2_mean + r0, cache.ln2_rstd + r0});
    ff_in = rows(cache.ln2);
  }
  const std::ptrdiff_t off_f = std::ptrdiff_t(r0) * p.ff.in.out;
  const feed_forward_cache<T> ff{cache.ff.pre ? cache.ff.pre + off_f : nullptr, cache.ff.act + off_f};
  const T* ff_residual = post ? rows(cache.ln1) : rows(cache.residual1);
  if (drop.ff_out.active()) {
    feed_forward_forward(p.ff, n, ff_in, ff, rows(cache.residual2), static_cast<const T*>(nullptr));
    dropout_apply(drop.ff_out, nc, rows(cache.residual2), off);
    detail::add_into(nc, ff_residual, rows(cache.residual2));
  } else {
    feed_forward_forward(p.ff, n, ff_in, ff, rows(cache.residual2), ff_residual);
  }
  if (post)
    layernorm_forward(p.ln2, n, rows(cache.residual2), rows(cache.ln2), {cache.ln2_mean + r0, cache.ln2_rstd + r0});
}

// Runs the block on x[N, C]; the output is cache.output(p.norm).
template <class T>
void block_forward(const block_params<T>& p, const attention_shape& s, const T* x,
                   const block_cache<T>& cache, const block_dropout& drop = {}) {
  const int n = s.batch * s.seq;
  block_forward_before_heads(p, 0, n, x, cache);
  attention_heads_forward(p.attention, s, cache.attention, drop.attention);
  block_forward_after_heads(p, 0, n, x, cache, drop);
}

// Accumulates parameter gradients and dx[N, C] from dy[N, C] (the gradient
// of the block's output).
template <class T>
void block_backward(const block_params<T>& p, const block_grads<T>& g, const attention_shape& s, const T* x,
                    const block_cache<T>& cache, const T* dy, T* dx, const block_scratch<T>& w,
                    const block_dropout& drop = {}) {
  const int n = s.batch * s.seq;
  const int c = p.ln1.channels;
  const std::ptrdiff_t nc = std::ptrdiff_t(n) * c;
  auto ff_backward = [&](const T* ff_in, const T* d_out, T* d_in) {
    // d_out is the gradient of the residual sum r2; the FF branch sees
    // dropout(d_out) when dropout is on.
    const T* d_branch = d_out;
    if (drop.ff_out.active()) {
      detail::copy(nc, d_out, w.c3);
      dropout_backward(drop.ff_out, nc, w.c3);
      d_branch = w.c3;
    }
    feed_forward_backward(p.ff, g.ff, n, ff_in, cache.ff, d_branch, d_in, w.f);
  };
  auto attn_backward = [&](const T* attn_in, const T* d_out, T* d_in) {
    const T* d_branch = d_out;
    if (drop.attn_out.active()) {
      detail::copy(nc, d_out, w.c3);
      dropout_backward(drop.attn_out, nc, w.c3);
      d_branch = w.c3;
    }
    attention_backward(p.attention, g.attention, s, attn_in, cache.attention, d_branch, d_in, w.c2, w.qkv,
                       w.probs, drop.attention);
  };
  if (p.norm == norm_placement::post) {
    // dr2 = LN2'(dy)
    detail::zero(nc, w.c0);
    layernorm_backward(p.ln2, g.ln2, n, cache.residual2, {cache.ln2_mean, cache.ln2_rstd}, dy, w.c0, w.gain,
                       w.bias);
    // dh1 = dr2 + FF'(dr2)
    detail::copy(nc, w.c0, w.c1);
    ff_backward(cache.ln1, w.c0, w.c1);
    // dr1 = LN1'(dh1)
    detail::zero(nc, w.c0);
    layernorm_backward(p.ln1, g.ln1, n, cache.residual1, {cache.ln1_mean, cache.ln1_rstd}, w.c1, w.c0, w.gain,
                       w.bias);
    // dx += dr1 + Attn'(dr1)
    detail::add_into(nc, w.c0, dx);
    attn_backward(x, w.c0, dx);
  } else {
    // dr1 = dy + LN2'(FF'(dy))
    detail::zero(nc, w.c0);
    ff_backward(cache.ln2, dy, w.c0);
    detail::copy(nc, dy, w.c1);
    layernorm_backward(p.ln2, g.ln2, n, cache.residual1, {cache.ln2_mean, cache.ln2_rstd}, w.c0, w.c1, w.gain,
                       w.bias);
    // dx += dr1 + LN1'(Attn'(dr1))
    detail::zero(nc, w.c0);
    attn_backward(cache.ln1, w.c1, w.c0);
    detail::add_into(nc, w.c1, dx);
    layernorm_backward(p.ln1, g.ln1, n, x, {cache.ln1_mean, cache.ln1_rstd}, w.c0, dx, w.gain, w.bias);
  }
}

}  // namespace autodidact::layers
