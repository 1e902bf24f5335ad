#pragma once
// Optimizer kernels over flat arrays: the AdamW update, a deterministic
// global norm, and an in-place scale (for gradient clipping).
//
// adamw_update follows torch.optim.AdamW (amsgrad = false, maximize = false)
// step by step, with the scalars computed in double and rounded to T:
//   p = p * (1 - lr wd)
//   m = m b1 + (1 - b1) g
//   v = v b2 + (1 - b2) g g
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps
//   p = p + (-lr / (1 - b1^t)) m / denom
// global_norm = sqrt(sum x^2): the array is cut into chunks of
// reduction_chunk (4096) elements, each summed in T, and the chunk sums are
// added in order in double, so the result does not depend on the thread count.
//
// Preconditions:
// - n >= 0; param, grad, m, v hold n elements (m and v start at 0).
// - step t >= 1 counts this update (the first update has t = 1).
// - lr >= 0, weight_decay >= 0, 0 <= beta1, beta2 < 1, eps >= 0.

#include <cmath>    // for std::pow, std::sqrt
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int64_t

#include "autodidact/kernels/common.hpp"  // for adamw_options, reduction_chunk, require
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store, sqrt, fma, reduce_sum

namespace autodidact::kernels {

namespace detail {

inline void check_adamw(std::ptrdiff_t n, const adamw_options& o, std::int64_t step) {
  require(n >= 0, "adamw_update: n = ", n, " must not be negative");
  require(step >= 1, "adamw_update: step = ", step, " must be >= 1 (the first update is step 1)");
  require(o.lr >= 0, "adamw_update: lr = ", o.lr, " must not be negative");
  require(o.weight_decay >= 0, "adamw_update: weight_decay = ", o.weight_decay, " must not be negative");
  require(o.beta1 >= 0 && o.beta1 < 1, "adamw_update: beta1 = ", o.beta1, " must be in [0, 1)");
  require(o.beta2 >= 0 && o.beta2 < 1, "adamw_update: beta2 = ", o.beta2, " must be in [0, 1)");
  require(o.eps >= 0, "adamw_update: eps = ", o.eps, " must not be negative");
}

// The scalars of one AdamW step, as PyTorch computes them (double), in T.
template <class T>
struct adamw_scalars {
  T decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  adamw_scalars(const adamw_options& o, std::int64_t step)
      : decay(T(1.0 - o.lr * o.weight_decay)),
        beta1(T(o.beta1)),
        one_minus_beta1(T(1.0 - o.beta1)),
        beta2(T(o.beta2)),
        one_minus_beta2(T(1.0 - o.beta2)),
        bc2_sqrt(T(std::sqrt(1.0 - std::pow(o.beta2, double(step))))),
        eps(T(o.eps)),
        neg_step_size(T(-(o.lr / (1.0 - std::pow(o.beta1, double(step)))))) {}
};

inline constexpr std::ptrdiff_t optimizer_chunk = 16384;

template <class T>
inline T chunk_sum_squares(std::ptrdiff_t n, const T* x) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  B acc0(T(0)), acc1(T(0));
  std::ptrdiff_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    const B a = simd::load(x + i), b = simd::load(x + i + w);
    acc0 = simd::fma(a, a, acc0);
    acc1 = simd::fma(b, b, acc1);
  }
  T s = simd::reduce_sum(acc0 + acc1);
  for (; i < n; ++i) s += x[i] * x[i];
  return s;
}

}  // namespace detail

// One AdamW step on n parameters.   param, grad, m, v: [n]
template <kernel_scalar T>
void adamw_update(std::ptrdiff_t n, T* param, const T* grad, T* m, T* v,
                  const adamw_options& options, std::int64_t step) {
  detail::check_adamw(n, options, step);
  const detail::adamw_scalars<T> s(options, step);
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const std::ptrdiff_t chunks = (n + detail::optimizer_chunk - 1) / detail::optimizer_chunk;
  kernels::detail::parallel_for(0, chunks, chunks > 1, [&](std::ptrdiff_t ch) {
    const std::ptrdiff_t b = ch * detail::optimizer_chunk;
    const std::ptrdiff_t e = n - b < detail::optimizer_chunk ? n : b + detail::optimizer_chunk;
    const B decay(s.decay), b1(s.beta1), omb1(s.one_minus_beta1), b2(s.beta2),
        omb2(s.one_minus_beta2), bc2(s.bc2_sqrt), eps(s.eps), nss(s.neg_step_size);
    std::ptrdiff_t i = b;
    for (; i + w <= e; i += w) {
      const B g = simd::load(grad + i);
      const B p = simd::load(param + i) * decay;
      const B mi = simd::load(m + i) * b1 + omb1 * g;
      const B vi = simd::load(v + i) * b2 + omb2 * g * g;
      const B denom = simd::sqrt(vi) / bc2 + eps;
      simd::store(m + i, mi);
      simd::store(v + i, vi);
      simd::store(param + i, p + nss * mi / denom);
    }
    for (; i < e; ++i) {
      const T g = grad[i];
      const T p = param[i] * s.decay;
      const T mi = m[i] * s.beta1 + s.one_minus_beta1 * g;
      const T vi = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
      const T denom = std::sqrt(vi) / s.bc2_sqrt + s.eps;
      m[i] = mi;
      v[i] = vi;
      param[i] = p + s.neg_step_size * mi / denom;
    }
  });
}

// sum_i x[i]^2 in fixed-size chunks combined in order (double).   x: [n]
template <kernel_scalar T>
double sum_squares(std::ptrdiff_t n, const T* x) {
  require(n >= 0, "sum_squares: n = ", n, " must not be negative");
  const std::ptrdiff_t chunks = (n + reduction_chunk - 1) / reduction_chunk;
  // Chunk sums are formed in groups (in parallel) and added in chunk order,
  // with no allocation: a fixed array holds one group's partial sums.
  constexpr std::ptrdiff_t group = 256;
  double partial[group];
  double total = 0.0;
  for (std::ptrdiff_t g0 = 0; g0 < chunks; g0 += group) {
    const std::ptrdiff_t count = chunks - g0 < group ? chunks - g0 : group;
    kernels::detail::parallel_for(0, count, count > 4, [&](std::ptrdiff_t j) {
      const std::ptrdiff_t b = (g0 + j) * reduction_chunk;
      const std::ptrdiff_t len = n - b < reduction_chunk ? n - b : reduction_chunk;
      partial[j] = double(detail::chunk_sum_squares(len, x + b));
    });
    for (std::ptrdiff_t j = 0; j < count; ++j) total += partial[j];
  }
  return total;
}

// sqrt(sum_i x[i]^2), deterministic (see sum_squares).   x: [n]
template <kernel_scalar T>
double global_norm(std::ptrdiff_t n, const T* x) {
  return std::sqrt(sum_squares(n, x));
}

// x[i] *= factor (gradient clipping: factor = max_norm / (norm + 1e-6)).   x: [n]
template <kernel_scalar T>
void scale(std::ptrdiff_t n, T* x, T factor) {
  require(n >= 0, "scale: n = ", n, " must not be negative");
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const std::ptrdiff_t chunks = (n + detail::optimizer_chunk - 1) / detail::optimizer_chunk;
  kernels::detail::parallel_for(0, chunks, chunks > 1, [&](std::ptrdiff_t ch) {
    const std::ptrdiff_t b = ch * detail::optimizer_chunk;
    const std::ptrdiff_t e = n - b < detail::optimizer_chunk ? n : b + detail::optimizer_chunk;
    const B f(factor);
    std::ptrdiff_t i = b;
    for (; i + w <= e; i += w) simd::store(x + i, simd::load(x + i) * f);
    for (; i < e; ++i) x[i] *= factor;
  });
}

}  // namespace autodidact::kernels
