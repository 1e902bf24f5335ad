#pragma once
// Reference twin of kernels/cross_entropy.hpp: per row, the max, the
// log-sum-exp and the softmax in column order.
// Same signatures and preconditions as the kernels (see cross_entropy.hpp).

#include <cmath>    // for std::exp, std::log
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t

#include "autodidact/kernels/common.hpp"  // for default_ignore_index, kernels::detail::check_targets

namespace autodidact::kernels::reference {

// Per-row losses, and the number of rows that are not ignored.
//   logits: [rows, V] (ldx)   targets: [rows]   losses: [rows]
template <kernel_scalar T>
int cross_entropy_forward(int rows, int v, const T* logits, int ldx, const std::int32_t* targets,
                          T* losses, std::int32_t ignore_index = default_ignore_index) {
  require(rows >= 0 && v >= 1, "cross_entropy_forward: rows = ", rows, " must be >= 0 and V = ",
          v, " >= 1");
  kernels::detail::check_ld("cross_entropy_forward", "ldx", ldx, v);
  kernels::detail::check_targets(rows, v, targets, ignore_index);
  int count = 0;
  for (int r = 0; r < rows; ++r) {
    const T* x = logits + std::ptrdiff_t(r) * ldx;
    if (targets[r] == ignore_index) {
      losses[r] = 0;
      continue;
    }
    ++count;
    T mx = x[0];
    for (int j = 1; j < v; ++j) mx = x[j] > mx ? x[j] : mx;
    T s = 0;
    for (int j = 0; j < v; ++j) s += std::exp(x[j] - mx);
    losses[r] = std::log(s) + mx - x[targets[r]];
  }
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
  kernels::detail::check_ld("cross_entropy_backward", "ldx", ldx, v);
  kernels::detail::check_ld("cross_entropy_backward", "lddx", lddx, v);
  kernels::detail::check_targets(rows, v, targets, ignore_index);
  for (int r = 0; r < rows; ++r) {
    const T* x = logits + std::ptrdiff_t(r) * ldx;
    T* d = dlogits + std::ptrdiff_t(r) * lddx;
    if (targets[r] == ignore_index) {
      for (int j = 0; j < v; ++j) d[j] = 0;
      continue;
    }
    T mx = x[0];
    for (int j = 1; j < v; ++j) mx = x[j] > mx ? x[j] : mx;
    T s = 0;
    for (int j = 0; j < v; ++j) s += std::exp(x[j] - mx);
    for (int j = 0; j < v; ++j) {
      const T p = std::exp(x[j] - mx) / s;
      d[j] = (p - (j == targets[r] ? T(1) : T(0))) * scale;
    }
  }
}

}  // namespace autodidact::kernels::reference
