#pragma once
// Feed-forward: two Linears with the config's GELU between them.
//
//   forward   pre[N, F] = x W1ᵀ + b1,  act = gelu(pre)   (both saved)
//             y[N, C] = act W2ᵀ + b2 (+ residual)
//   backward  dact = dy W2,  dW2 += dyᵀ act,  db2 += Σ dy
//             dpre = gelu'(pre) ⊙ dact,  dW1 += dpreᵀ x,  db1 += Σ dpre,  dx += dpre W1
//
// PyTorch: BertIntermediate + BertOutput.dense (erf GELU), GPT2MLP
// (c_fc, gelu_new, c_proj).

#include "autodidact/config.hpp"          // for gelu_kind
#include "autodidact/kernels/common.hpp"  // for gemm_epilogue, to_activation, write_mode
#include "autodidact/kernels/gelu.hpp"    // for gelu_backward
#include "autodidact/layers/linear.hpp"   // for linear_params, linear_forward, linear_backward

namespace autodidact::layers {

template <class T>
struct feed_forward_params {
  linear_params<T> in;   // [F, C], [F]
  linear_params<T> out;  // [C, F], [C]
  gelu_kind gelu = gelu_kind::erf;
};

template <class T>
struct feed_forward_grads {
  linear_grads<T> in;
  linear_grads<T> out;
};

template <class T>
struct feed_forward_cache {
  T* pre = nullptr;  // [N, F] before GELU (null: not kept, forward only)
  T* act = nullptr;  // [N, F] after GELU
};

// y[N, C] = FF(x[N, C]) (+ residual[N, C] when not null).
template <class T>
void feed_forward_forward(const feed_forward_params<T>& p, int n, const T* x,
                          const feed_forward_cache<T>& cache, T* y, const T* residual) {
  kernels::gemm_epilogue<T> first{};
  first.act = kernels::to_activation(p.gelu);
  first.pre_activation = cache.pre;
  linear_forward(p.in, n, x, cache.act, first);
  kernels::gemm_epilogue<T> second{};
  if (residual) {
    second.residual = residual;
    second.ldr = p.out.out;
  }
  linear_forward(p.out, n, cache.act, y, second);
}

// Accumulates parameter gradients and dx[N, C]; dact is scratch [N, F].
template <class T>
void feed_forward_backward(const feed_forward_params<T>& p, const feed_forward_grads<T>& g, int n, const T* x,
                           const feed_forward_cache<T>& cache, const T* dy, T* dx, T* dact) {
  const std::ptrdiff_t nf = std::ptrdiff_t(n) * p.in.out;
  for (std::ptrdiff_t i = 0; i < nf; ++i) dact[i] = T(0);
  linear_backward(p.out, g.out, n, cache.act, dy, dact);
  kernels::gelu_backward(p.gelu, nf, cache.pre, dact, dact, kernels::write_mode::overwrite);
  linear_backward(p.in, g.in, n, x, dact, dx);
}

}  // namespace autodidact::layers
