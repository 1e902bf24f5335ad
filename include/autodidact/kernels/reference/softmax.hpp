#pragma once
// Reference twin of kernels/softmax.hpp: per row, the max, the exponentials
// and their sum in column order, with the mask tested element by element.
// Same signatures and preconditions as the kernels (see softmax.hpp).

#include <cmath>    // for std::exp
#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/kernels/common.hpp"  // for softmax_mask, detail::check_*

namespace autodidact::kernels::reference {

namespace detail {
// Whether column j of row i takes part in the softmax.
inline bool allowed(const softmax_mask& mask, int i, int j) {
  if (j >= mask.valid_cols) return false;
  if (mask.causal && static_cast<long long>(j) > static_cast<long long>(i) + mask.row_offset) return false;
  return true;
}
}  // namespace detail

// y = masked softmax(scale * x), row by row.   x: [rows, cols] (ldx)   y: [rows, cols] (ldy)
template <kernel_scalar T>
void softmax_forward(int rows, int cols, T scale, const T* x, int ldx, T* y, int ldy,
                     const softmax_mask& mask) {
  kernels::detail::check_rows("softmax_forward", rows, cols);
  kernels::detail::check_ld("softmax_forward", "ldx", ldx, cols);
  kernels::detail::check_ld("softmax_forward", "ldy", ldy, cols);
  require(scale > T(0), "softmax_forward: scale = ", scale, " must be positive");
  for (int i = 0; i < rows; ++i) {
    const T* xr = x + std::ptrdiff_t(i) * ldx;
    T* yr = y + std::ptrdiff_t(i) * ldy;
    bool any = false;
    T mx = 0;
    for (int j = 0; j < cols; ++j)
      if (detail::allowed(mask, i, j) && (!any || scale * xr[j] > mx)) {
        mx = scale * xr[j];
        any = true;
      }
    T sum = 0;
    for (int j = 0; j < cols; ++j) {
      const T e = detail::allowed(mask, i, j) ? std::exp(scale * xr[j] - mx) : T(0);
      yr[j] = e;
      sum += e;
    }
    for (int j = 0; j < cols; ++j) yr[j] = any ? yr[j] / sum : T(0);
  }
}

// dx = scale * y (dy - rowsum(y dy)) (overwrite), masked entries 0.
//   y, dy, dx: [rows, cols] (ldy, lddy, lddx)
template <kernel_scalar T>
void softmax_backward(int rows, int cols, T scale, const T* y, int ldy, const T* dy, int lddy,
                      T* dx, int lddx, const softmax_mask& mask) {
  kernels::detail::check_rows("softmax_backward", rows, cols);
  kernels::detail::check_ld("softmax_backward", "ldy", ldy, cols);
  kernels::detail::check_ld("softmax_backward", "lddy", lddy, cols);
  kernels::detail::check_ld("softmax_backward", "lddx", lddx, cols);
  for (int i = 0; i < rows; ++i) {
    const T* yr = y + std::ptrdiff_t(i) * ldy;
    const T* dyr = dy + std::ptrdiff_t(i) * lddy;
    T* dxr = dx + std::ptrdiff_t(i) * lddx;
    T dot = 0;
    for (int j = 0; j < cols; ++j)
      if (detail::allowed(mask, i, j)) dot += yr[j] * dyr[j];
    for (int j = 0; j < cols; ++j)
      dxr[j] = detail::allowed(mask, i, j) ? scale * yr[j] * (dyr[j] - dot) : T(0);
  }
}

}  // namespace autodidact::kernels::reference
