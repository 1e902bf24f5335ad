#pragma once
// Reference twin of kernels/adamw.hpp: torch.optim.AdamW's
// _single_tensor_adamw written out element by element, and the plain sum of
// squares in index order. Same signatures and preconditions as the kernels.

#include <cmath>    // for std::pow, std::sqrt
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int64_t

#include "autodidact/kernels/common.hpp"  // for adamw_options, require

namespace autodidact::kernels::reference {

// One AdamW step on n parameters.   param, grad, m, v: [n]
template <kernel_scalar T>
void adamw_update(std::ptrdiff_t n, T* param, const T* grad, T* m, T* v,
                  const adamw_options& o, std::int64_t step) {
  require(n >= 0, "adamw_update: n = ", n, " must not be negative");
  require(step >= 1, "adamw_update: step = ", step, " must be >= 1 (the first update is step 1)");
  // param.mul_(1 - lr * weight_decay)
  const T decay = T(1.0 - o.lr * o.weight_decay);
  // bias_correction1 = 1 - beta1 ** step; bias_correction2 = 1 - beta2 ** step
  const double bc1 = 1.0 - std::pow(o.beta1, double(step));
  const double bc2 = 1.0 - std::pow(o.beta2, double(step));
  const T step_size = T(o.lr / bc1);
  const T bc2_sqrt = T(std::sqrt(bc2));
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    param[i] = param[i] * decay;
    m[i] = m[i] * T(o.beta1) + T(1.0 - o.beta1) * grad[i];            // exp_avg.mul_(b1).add_(g, alpha=1-b1)
    v[i] = v[i] * T(o.beta2) + T(1.0 - o.beta2) * grad[i] * grad[i];  // exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
    const T denom = std::sqrt(v[i]) / bc2_sqrt + T(o.eps);             // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
    param[i] = param[i] + (-step_size) * m[i] / denom;                 // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

// sum_i x[i]^2 in index order (double).   x: [n]
template <kernel_scalar T>
double sum_squares(std::ptrdiff_t n, const T* x) {
  require(n >= 0, "sum_squares: n = ", n, " must not be negative");
  double s = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}

// sqrt(sum_i x[i]^2).   x: [n]
template <kernel_scalar T>
double global_norm(std::ptrdiff_t n, const T* x) {
  return std::sqrt(sum_squares(n, x));
}

// x[i] *= factor.   x: [n]
template <kernel_scalar T>
void scale(std::ptrdiff_t n, T* x, T factor) {
  require(n >= 0, "scale: n = ", n, " must not be negative");
  for (std::ptrdiff_t i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace autodidact::kernels::reference
