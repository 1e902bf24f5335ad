#pragma once
// Masked, scaled softmax over the rows of a block (attention probabilities).
//
// For row i of a [rows, cols] block the allowed columns are the prefix
// j < limit(i) = min(valid_cols, causal ? i + row_offset + 1 : cols)
// (softmax_mask in common.hpp). Then
//   forward:  y[i,j] = exp(scale x[i,j] - m) / sum_{allowed j'} exp(scale x[i,j'] - m)
//             for allowed j, with m the row's largest scale x; y[i,j] = 0 exactly
//             for masked j; a row with no allowed column is all zeros.
//   backward: dx[i,j] = scale y[i,j] (dy[i,j] - sum_{j'} y[i,j'] dy[i,j'])  (overwrite);
//             masked entries get 0.
//
// Preconditions:
// - rows, cols >= 0; leading dimensions >= cols; scale > 0.
// - Masked entries of x (and of dy) are never read: they may hold anything.
// - y may alias x (in place); dx may alias dy.
// Threads split rows; each row is computed the same way for any thread count.

#include <cmath>    // for std::exp (scalar tails)
#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/core/threading.hpp"  // for detail::rowwise_parallel_elements
#include "autodidact/kernels/common.hpp"  // for softmax_mask, detail::check_*
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store, exp, max, reduce_*

namespace autodidact::kernels {

namespace detail {

template <class T>
inline void softmax_row(int n, int cols, T scale, const T* x, T* y) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  int j;
  if (n == 0) {
    for (j = 0; j < cols; ++j) y[j] = T(0);
    return;
  }
  // Largest scaled logit (scale > 0, so the max of x).
  T mx = x[0];
  j = 0;
  if (n >= w) {
    B vm = simd::load(x);
    for (j = w; j + w <= n; j += w) vm = simd::max(vm, simd::load(x + j));
    mx = simd::reduce_max(vm);
  }
  for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  const T shift = scale * mx;
  // Exponentials and their sum (lane sums, then the tail, in a fixed order).
  const B vs(scale), vshift(shift);
  B vsum(T(0));
  for (j = 0; j + w <= n; j += w) {
    const B e = simd::exp(simd::fma(vs, simd::load(x + j), -vshift));
    simd::store(y + j, e);
    vsum += e;
  }
  T sum = simd::reduce_sum(vsum);
  for (; j < n; ++j) {
    const T e = std::exp(scale * x[j] - shift);
    y[j] = e;
    sum += e;
  }
  const T inv = T(1) / sum;
  const B vinv(inv);
  for (j = 0; j + w <= n; j += w) simd::store(y + j, simd::load(y + j) * vinv);
  for (; j < n; ++j) y[j] *= inv;
  for (j = n; j < cols; ++j) y[j] = T(0);
}

template <class T>
inline void softmax_backward_row(int n, int cols, T scale, const T* y, const T* dy, T* dx) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const T dot = simd::dot(n, y, dy);
  const B vs(scale), vdotb(dot);
  int j = 0;
  for (; j + w <= n; j += w)
    simd::store(dx + j, vs * simd::load(y + j) * (simd::load(dy + j) - vdotb));
  for (; j < n; ++j) dx[j] = scale * y[j] * (dy[j] - dot);
  for (j = n; j < cols; ++j) dx[j] = T(0);
}

}  // namespace detail

// y = masked softmax(scale * x), row by row.   x: [rows, cols] (ldx)   y: [rows, cols] (ldy)
template <kernel_scalar T>
void softmax_forward(int rows, int cols, T scale, const T* x, int ldx, T* y, int ldy,
                     const softmax_mask& mask) {
  detail::check_rows("softmax_forward", rows, cols);
  detail::check_ld("softmax_forward", "ldx", ldx, cols);
  detail::check_ld("softmax_forward", "ldy", ldy, cols);
  require(scale > T(0), "softmax_forward: scale = ", scale, " must be positive");
  kernels::detail::parallel_for(0, rows, double(rows) * cols > detail::rowwise_parallel_elements, [&](int i) {
    detail::softmax_row(mask.limit(i, cols), cols, scale, x + std::ptrdiff_t(i) * ldx,
                        y + std::ptrdiff_t(i) * ldy);
  });
}

// dx = scale * y (dy - rowsum(y dy)) (overwrite), masked entries 0.
//   y, dy, dx: [rows, cols] (ldy, lddy, lddx)
template <kernel_scalar T>
void softmax_backward(int rows, int cols, T scale, const T* y, int ldy, const T* dy, int lddy,
                      T* dx, int lddx, const softmax_mask& mask) {
  detail::check_rows("softmax_backward", rows, cols);
  detail::check_ld("softmax_backward", "ldy", ldy, cols);
  detail::check_ld("softmax_backward", "lddy", lddy, cols);
  detail::check_ld("softmax_backward", "lddx", lddx, cols);
  kernels::detail::parallel_for(0, rows, double(rows) * cols > detail::rowwise_parallel_elements, [&](int i) {
    detail::softmax_backward_row(mask.limit(i, cols), cols, scale, y + std::ptrdiff_t(i) * ldy,
                                 dy + std::ptrdiff_t(i) * lddy, dx + std::ptrdiff_t(i) * lddx);
  });
}

}  // namespace autodidact::kernels
