#pragma once
// Reference twin of kernels/layernorm.hpp: the formulas of the header of
// layernorm.hpp, evaluated one row and one channel at a time.
// Same signatures and preconditions as the kernels.

#include <cmath>    // for std::sqrt
#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/kernels/common.hpp"  // for kernel_scalar, require

namespace autodidact::kernels::reference {

// out = (in - mean) * rstd * gamma + beta, saving mean and rstd.
//   in, out: [rows, C]   gamma, beta: [C]   mean, rstd: [rows]
template <kernel_scalar T>
void layernorm_forward(int rows, int c, const T* in, const T* gamma, const T* beta, T eps, T* out,
                       T* mean, T* rstd) {
  require(rows >= 0 && c >= 1, "layernorm_forward: rows = ", rows, " must be >= 0 and C = ", c,
          " >= 1");
  require(eps > T(0), "layernorm_forward: eps = ", eps, " must be positive");
  for (int r = 0; r < rows; ++r) {
    const T* x = in + std::ptrdiff_t(r) * c;
    T* y = out + std::ptrdiff_t(r) * c;
    T s = 0;
    for (int j = 0; j < c; ++j) s += x[j];
    const T mu = s / T(c);
    T q = 0;
    for (int j = 0; j < c; ++j) q += (x[j] - mu) * (x[j] - mu);
    const T rs = T(1) / std::sqrt(q / T(c) + eps);
    for (int j = 0; j < c; ++j) y[j] = (x[j] - mu) * rs * gamma[j] + beta[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// din += d/din, dgamma += d/dgamma, dbeta += d/dbeta.
//   dout, in, din: [rows, C]   gamma, dgamma, dbeta: [C]   mean, rstd: [rows]
template <kernel_scalar T>
void layernorm_backward(int rows, int c, const T* dout, const T* in, const T* gamma, const T* mean,
                        const T* rstd, T* din, T* dgamma, T* dbeta) {
  require(rows >= 0 && c >= 1, "layernorm_backward: rows = ", rows, " must be >= 0 and C = ", c,
          " >= 1");
  for (int r = 0; r < rows; ++r) {
    const T* x = in + std::ptrdiff_t(r) * c;
    const T* dy = dout + std::ptrdiff_t(r) * c;
    T* dx = din + std::ptrdiff_t(r) * c;
    T mg = 0, mgx = 0;
    for (int j = 0; j < c; ++j) {
      const T xh = (x[j] - mean[r]) * rstd[r];
      mg += dy[j] * gamma[j];
      mgx += dy[j] * gamma[j] * xh;
    }
    mg /= T(c);
    mgx /= T(c);
    for (int j = 0; j < c; ++j) {
      const T xh = (x[j] - mean[r]) * rstd[r];
      dx[j] += rstd[r] * (dy[j] * gamma[j] - mg - xh * mgx);
      dgamma[j] += dy[j] * xh;
      dbeta[j] += dy[j];
    }
  }
}

}  // namespace autodidact::kernels::reference
