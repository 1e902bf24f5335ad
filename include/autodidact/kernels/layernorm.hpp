#pragma once
// LayerNorm over the last dimension C, as torch.nn.LayerNorm (biased variance).
//
//   forward:  mean[r] = sum_c x[r,c] / C
//             rstd[r] = 1 / sqrt(sum_c (x[r,c] - mean[r])^2 / C + eps)
//             out[r,c] = (x[r,c] - mean[r]) rstd[r] gamma[c] + beta[c]
//   backward (xhat = (x - mean) rstd, g = dout gamma):
//             din[r,c]  += rstd[r] (g[c] - mean_c(g) - xhat[r,c] mean_c(g xhat))
//             dgamma[c] += sum_r dout[r,c] xhat[r,c]
//             dbeta[c]  += sum_r dout[r,c]
//
// Preconditions:
// - rows >= 0, C >= 1, eps > 0 (a run-time value: BERT 1e-12, GPT-2 1e-5).
// - in, out, dout, din: [rows, C] dense; gamma, beta, dgamma, dbeta: [C];
//   mean, rstd: [rows], written by forward and read by backward.
// - out may alias in. din must not alias dout or in (it accumulates).
// Threads split rows (forward, din) and channel ranges (dgamma, dbeta, rows
// summed in order), so results do not depend on the thread count.

#include <cmath>    // for std::sqrt
#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/core/threading.hpp"  // for detail::rowwise_parallel_elements
#include "autodidact/kernels/common.hpp"  // for kernel_scalar, require
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store, fma, reduce_sum

namespace autodidact::kernels {

// out = (in - mean) * rstd * gamma + beta, saving mean and rstd.
//   in, out: [rows, C]   gamma, beta: [C]   mean, rstd: [rows]
template <kernel_scalar T>
void layernorm_forward(int rows, int c, const T* in, const T* gamma, const T* beta, T eps, T* out,
                       T* mean, T* rstd) {
  require(rows >= 0 && c >= 1, "layernorm_forward: rows = ", rows, " must be >= 0 and C = ", c,
          " >= 1");
  require(eps > T(0), "layernorm_forward: eps = ", eps, " must be positive");
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  kernels::detail::parallel_for(0, rows, double(rows) * c > detail::rowwise_parallel_elements, [&](int r) {
    const T* x = in + std::ptrdiff_t(r) * c;
    T* y = out + std::ptrdiff_t(r) * c;
    B vs(T(0));
    int j = 0;
    for (; j + w <= c; j += w) vs += simd::load(x + j);
    T s = simd::reduce_sum(vs);
    for (; j < c; ++j) s += x[j];
    const T mu = s / T(c);
    const B vmu(mu);
    B vq(T(0));
    for (j = 0; j + w <= c; j += w) {
      const B d = simd::load(x + j) - vmu;
      vq = simd::fma(d, d, vq);
    }
    T q = simd::reduce_sum(vq);
    for (; j < c; ++j) q += (x[j] - mu) * (x[j] - mu);
    const T rs = T(1) / std::sqrt(q / T(c) + eps);
    const B vrs(rs);
    for (j = 0; j + w <= c; j += w)
      simd::store(y + j, simd::fma((simd::load(x + j) - vmu) * vrs, simd::load(gamma + j), simd::load(beta + j)));
    for (; j < c; ++j) y[j] = (x[j] - mu) * rs * gamma[j] + beta[j];
    mean[r] = mu;
    rstd[r] = rs;
  });
}

// din += d/din, dgamma += d/dgamma, dbeta += d/dbeta (see the header).
//   dout, in, din: [rows, C]   gamma, dgamma, dbeta: [C]   mean, rstd: [rows]
template <kernel_scalar T>
void layernorm_backward(int rows, int c, const T* dout, const T* in, const T* gamma, const T* mean,
                        const T* rstd, T* din, T* dgamma, T* dbeta) {
  require(rows >= 0 && c >= 1, "layernorm_backward: rows = ", rows, " must be >= 0 and C = ", c,
          " >= 1");
  using B = simd::batch<T>;
  constexpr int w = simd::width<T>;
  [[maybe_unused]] const bool parallel = double(rows) * c > detail::rowwise_parallel_elements;
  kernels::detail::parallel_for(0, rows, parallel, [&](int r) {
    const T* x = in + std::ptrdiff_t(r) * c;
    const T* dy = dout + std::ptrdiff_t(r) * c;
    T* dx = din + std::ptrdiff_t(r) * c;
    const T mu = mean[r], rs = rstd[r];
    const B vmu(mu), vrs(rs);
    B vg(T(0)), vgx(T(0));
    int j = 0;
    for (; j + w <= c; j += w) {
      const B g = simd::load(dy + j) * simd::load(gamma + j);
      const B xh = (simd::load(x + j) - vmu) * vrs;
      vg += g;
      vgx = simd::fma(g, xh, vgx);
    }
    T sg = simd::reduce_sum(vg), sgx = simd::reduce_sum(vgx);
    for (; j < c; ++j) {
      const T g = dy[j] * gamma[j];
      sg += g;
      sgx += g * (x[j] - mu) * rs;
    }
    const T mg = sg / T(c), mgx = sgx / T(c);
    const B vmg(mg), vmgx(mgx);
    for (j = 0; j + w <= c; j += w) {
      const B g = simd::load(dy + j) * simd::load(gamma + j);
      const B xh = (simd::load(x + j) - vmu) * vrs;
      simd::store(dx + j, simd::fma(vrs, g - vmg - xh * vmgx, simd::load(dx + j)));
    }
    for (; j < c; ++j) {
      const T g = dy[j] * gamma[j];
      const T xh = (x[j] - mu) * rs;
      dx[j] += rs * (g - mg - xh * mgx);
    }
  });
  // Parameter gradients: channel blocks in parallel, rows in order.
  constexpr int cb = 4 * w;
  const int blocks = (c + cb - 1) / cb;
  kernels::detail::parallel_for(0, blocks, parallel, [&](int blk) {
    const int j0 = blk * cb;
    const int j1 = j0 + cb < c ? j0 + cb : c;
    int j = j0;
    for (; j + w <= j1; j += w) {
      B dg = simd::load(dgamma + j), db = simd::load(dbeta + j);
      for (int r = 0; r < rows; ++r) {
        const B dy = simd::load(dout + std::ptrdiff_t(r) * c + j);
        const B xh = (simd::load(in + std::ptrdiff_t(r) * c + j) - B(mean[r])) * B(rstd[r]);
        dg = simd::fma(dy, xh, dg);
        db += dy;
      }
      simd::store(dgamma + j, dg);
      simd::store(dbeta + j, db);
    }
    for (; j < j1; ++j) {
      T dg = dgamma[j], db = dbeta[j];
      for (int r = 0; r < rows; ++r) {
        const T dy = dout[std::ptrdiff_t(r) * c + j];
        dg += dy * (in[std::ptrdiff_t(r) * c + j] - mean[r]) * rstd[r];
        db += dy;
      }
      dgamma[j] = dg;
      dbeta[j] = db;
    }
  });
}

}  // namespace autodidact::kernels
