#pragma once
// Cross-entropy of logits against integer targets, with an ignore index.
//
//   forward:  loss[r] = log sum_j exp(x[r,j] - m_r) + m_r - x[r, t_r]   (m_r = max_j x[r,j])
//             loss[r] = 0 for an ignored row (t_r == ignore_index);
//             returns the number of rows that are not ignored.
//             The probabilities are not written anywhere.
//   backward: dx[r,j] = (softmax(x[r])_j - [j == t_r]) * scale   (overwrite)
//             dx[r,:] = 0 for an ignored row.
//             scale is usually 1 / count (mean over counted rows).
//
// Preconditions:
// - rows >= 0, V >= 1; ldx, lddx >= V.
// - Every target is in [0, V) or equals ignore_index (default -100); any
//   other id throws autodidact::invalid_argument naming the row, the id and V.
// - dlogits may alias logits (in place, with lddx == ldx).
// Threads split rows.

#include <cmath>    // for std::exp, std::log
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t

#include "autodidact/core/threading.hpp"  // for detail::rowwise_parallel_elements
#include "autodidact/kernels/common.hpp"  // for default_ignore_index, detail::check_targets
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store, exp, max, reduce_*

namespace autodidact::kernels {

namespace detail {

// The largest element of x[0..n), n >= 1.
template <class T>
inline T row_max(int n, const T* x) {
  constexpr int w = simd::width<T>;
  T mx = x[0];
  int j = 0;
  if (n >= w) {
    simd::batch<T> vm = simd::load(x);
    for (j = w; j + w <= n; j += w) vm = simd::max(vm, simd::load(x + j));
    mx = simd::reduce_max(vm);
  }
  for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  return mx;
}

// sum_j exp(x[j] - shift).
template <class T>
inline T row_sum_exp(int n, const T* x, T shift) {
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  const B vshift(shift);
  B vs(T(0));
  int j = 0;
  for (; j + w <= n; j += w) vs += simd::exp(simd::load(x + j) - vshift);
  T s = simd::reduce_sum(vs);
  for (; j < n; ++j) s += std::exp(x[j] - shift);
  return s;
}

}  // namespace detail

// The check cross_entropy_forward and cross_entropy_backward run on their
// targets (invalid_argument naming the row and the id outside [0, V) that is
// not the ignore index), for a caller that must refuse bad labels before it
// changes any state.
inline void check_targets(int rows, int v, const std::int32_t* targets,
                          std::int32_t ignore_index = default_ignore_index) {
  detail::check_targets(rows, v, targets, ignore_index);
}

// Per-row losses, and the number of rows that are not ignored.
//   logits: [rows, V] (ldx)   targets: [rows]   losses: [rows]
template <kernel_scalar T>
int cross_entropy_forward(int rows, int v, const T* logits, int ldx, const std::int32_t* targets,
                          T* losses, std::int32_t ignore_index = default_ignore_index) {
  require(rows >= 0 && v >= 1, "cross_entropy_forward: rows = ", rows, " must be >= 0 and V = ",
          v, " >= 1");
  detail::check_ld("cross_entropy_forward", "ldx", ldx, v);
  detail::check_targets(rows, v, targets, ignore_index);
  kernels::detail::parallel_for(0, rows, double(rows) * v > detail::rowwise_parallel_elements, [&](int r) {
    const std::int32_t t = targets[r];
    if (t == ignore_index) {
      losses[r] = T(0);
      return;
    }
    const T* x = logits + std::ptrdiff_t(r) * ldx;
    const T mx = detail::row_max(v, x);
    losses[r] = std::log(detail::row_sum_exp(v, x, mx)) + mx - x[t];
  });
  int count = 0;
  for (int r = 0; r < rows; ++r) count += targets[r] != ignore_index;
  return count;
}

// dlogits = (softmax(logits) - onehot(target)) * scale, zero rows when ignored.
//   logits: [rows, V] (ldx)   targets: [rows]   dlogits: [rows, V] (lddx)
template <kernel_scalar T>
void cross_entropy_backward(int rows, int v, const T* logits, int ldx, const std::int32_t* targets,
                            T scale, T* dlogits, int lddx,
                            std::int32_t ignore_index = default_ignore_index) {
  require(rows >= 0 && v >= 1, "cross_entropy_backward: rows = ", rows, " must be >= 0 and V = ",
          v, " >= 1");
  detail::check_ld("cross_entropy_backward", "ldx", ldx, v);
  detail::check_ld("cross_entropy_backward", "lddx", lddx, v);
  detail::check_targets(rows, v, targets, ignore_index);
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  kernels::detail::parallel_for(0, rows, double(rows) * v > detail::rowwise_parallel_elements, [&](int r) {
    const std::int32_t t = targets[r];
    const T* x = logits + std::ptrdiff_t(r) * ldx;
    T* d = dlogits + std::ptrdiff_t(r) * lddx;
    int j = 0;
    if (t == ignore_index) {
      for (; j < v; ++j) d[j] = T(0);
      return;
    }
    const T mx = detail::row_max(v, x);
    const T f = scale / detail::row_sum_exp(v, x, mx);  // softmax_j * scale = exp(x_j - mx) * f
    const B vmx(mx), vf(f);
    for (; j + w <= v; j += w) simd::store(d + j, simd::exp(simd::load(x + j) - vmx) * vf);
    for (; j < v; ++j) d[j] = std::exp(x[j] - mx) * f;
    d[t] -= scale;
  });
}

}  // namespace autodidact::kernels
