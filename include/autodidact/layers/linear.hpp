#pragma once
// Linear: y = x Wᵀ + b, with W stored as PyTorch stores it, [out, in].
//
//   forward   y[N, out] = x[N, in] · W[out, in]ᵀ + b[out]   (+ the epilogue:
//             activation with its pre-activation saved, residual add)
//   backward  dW += dyᵀ · x,  db += Σ_n dy[n],  dx += dy · W
//
// PyTorch: torch.nn.Linear(in, out). The cache is the input x, which the
// caller keeps (it is some earlier layer's output in the activation arena).

#include "autodidact/kernels/common.hpp"  // for gemm_epilogue, transpose, write_mode
#include "autodidact/kernels/gemm.hpp"    // for gemm, bias_backward

namespace autodidact::layers {

template <class T>
struct linear_params {
  const T* weight = nullptr;  // [out, in]
  const T* bias = nullptr;    // [out], or null for no bias
  int in = 0;
  int out = 0;
  // Optional: Wᵀ packed by kernels::pack_b(transpose::yes, in, out, weight, in, ...),
  // matching `weight`. Forward then skips packing W on every call; the
  // results are bitwise the same. Backward always reads `weight`.
  const T* weight_packed = nullptr;
};

// Gradients; a null pointer means "frozen: do not compute".
template <class T>
struct linear_grads {
  T* weight = nullptr;  // [out, in]
  T* bias = nullptr;    // [out]
};

// y[N, out] = act(x[N, in] · Wᵀ + b) (+ residual) — see kernels::gemm_epilogue.
template <class T>
void linear_forward(const linear_params<T>& p, int n, const T* x, T* y,
                    kernels::gemm_epilogue<T> epilogue = {}) {
  epilogue.bias = p.bias;
  if (p.weight_packed) {
    kernels::gemm_prepacked(kernels::transpose::no, n, p.out, p.in, T(1), x, p.in, p.weight_packed,
                            kernels::write_mode::overwrite, y, p.out, epilogue);
    return;
  }
  kernels::gemm(kernels::transpose::no, kernels::transpose::yes, n, p.out, p.in, T(1), x, p.in, p.weight,
                p.in, kernels::write_mode::overwrite, y, p.out, epilogue);
}

// Accumulates dW, db (unless null) and dx (unless null) from dy[N, out] and
// the forward input x[N, in].
template <class T>
void linear_backward(const linear_params<T>& p, const linear_grads<T>& g, int n, const T* x, const T* dy,
                     T* dx) {
  using kernels::transpose;
  using kernels::write_mode;
  if (g.weight) {
    kernels::gemm(transpose::yes, transpose::no, p.out, p.in, n, T(1), dy, p.out, x, p.in,
                  write_mode::accumulate, g.weight, p.in);
  }
  if (g.bias && p.bias) kernels::bias_backward(n, p.out, dy, p.out, g.bias);
  if (dx) {
    kernels::gemm(transpose::no, transpose::no, n, p.in, p.out, T(1), dy, p.out, p.weight, p.in,
                  write_mode::accumulate, dx, p.in);
  }
}

}  // namespace autodidact::layers
