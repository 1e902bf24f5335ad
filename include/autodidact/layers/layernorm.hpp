#pragma once
// LayerNorm over the channel dimension:
//
//   forward   μ = mean_c x,  σ² = mean_c (x − μ)²,  r = 1/√(σ² + ε)
//             y = (x − μ) · r · γ + β          (saves μ[N] and r[N])
//   backward  x̂ = (x − μ) r
//             dx += r · (dy γ − mean_c(dy γ) − x̂ · mean_c(dy γ x̂))
//             dγ += Σ_n dy x̂,  dβ += Σ_n dy
//
// PyTorch: torch.nn.LayerNorm(C, eps) (biased variance).

#include "autodidact/kernels/layernorm.hpp"  // for layernorm_forward, layernorm_backward

namespace autodidact::layers {

template <class T>
struct layernorm_params {
  const T* gain = nullptr;  // γ [C]
  const T* bias = nullptr;  // β [C]
  int channels = 0;
  T eps = T(1e-5);
};

template <class T>
struct layernorm_grads {
  T* gain = nullptr;  // [C], null when frozen
  T* bias = nullptr;  // [C]
};

// What backward needs besides the input: mean and reciprocal std per row.
template <class T>
struct layernorm_cache {
  T* mean = nullptr;  // [N]
  T* rstd = nullptr;  // [N]
};

// y[N, C] = LayerNorm(x[N, C]).
template <class T>
void layernorm_forward(const layernorm_params<T>& p, int n, const T* x, T* y,
                       const layernorm_cache<T>& cache) {
  kernels::layernorm_forward(n, p.channels, x, p.gain, p.bias, p.eps, y, cache.mean, cache.rstd);
}

// dx[N, C] += ..., dγ, dβ += ... (frozen gains: pass null grads and a
// scratch is not needed; the gradient still flows to dx).
template <class T>
void layernorm_backward(const layernorm_params<T>& p, const layernorm_grads<T>& g, int n, const T* x,
                        const layernorm_cache<T>& cache, const T* dy, T* dx, T* scratch_gain = nullptr,
                        T* scratch_bias = nullptr) {
  T* dgain = g.gain ? g.gain : scratch_gain;
  T* dbias = g.bias ? g.bias : scratch_bias;
  kernels::layernorm_backward(n, p.channels, dy, x, p.gain, cache.mean, cache.rstd, dx, dgain, dbias);
}

}  // namespace autodidact::layers
