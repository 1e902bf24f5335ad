#pragma once
// Reference twin of kernels/attention.hpp: the unblocked formulas, one
// scalar loop each, with the full T x T probability matrix in a local
// vector. Same signatures and preconditions as the kernels.

#include <cmath>    // for std::exp, std::log
#include <cstddef>  // for std::ptrdiff_t, std::size_t
#include <limits>   // for std::numeric_limits
#include <vector>   // for std::vector

#include "autodidact/kernels/common.hpp"  // for softmax_mask, require

namespace autodidact::kernels::reference {

namespace detail {
// P[i, j] = softmax_j(scale q_i·k_j) over the allowed prefix; lse[i].
template <class T>
void attention_probs(int t, int d, T scale, const T* q, const T* k, int ld, const softmax_mask& mask,
                     std::vector<T>& p, T* lse) {
  p.assign(std::size_t(t) * t, T(0));
  for (int i = 0; i < t; ++i) {
    const int lim = mask.limit(i, t);
    if (lim == 0) {
      lse[i] = -std::numeric_limits<T>::infinity();
      continue;
    }
    T mx = -std::numeric_limits<T>::infinity();
    for (int j = 0; j < lim; ++j) {
      T sij = 0;
      for (int c = 0; c < d; ++c) sij += q[std::ptrdiff_t(i) * ld + c] * k[std::ptrdiff_t(j) * ld + c];
      p[std::size_t(i) * t + j] = scale * sij;
      if (scale * sij > mx) mx = scale * sij;
    }
    T sum = 0;
    for (int j = 0; j < lim; ++j) sum += std::exp(p[std::size_t(i) * t + j] - mx);
    for (int j = 0; j < lim; ++j) p[std::size_t(i) * t + j] = std::exp(p[std::size_t(i) * t + j] - mx) / sum;
    lse[i] = mx + std::log(sum);
  }
}
}  // namespace detail

template <kernel_scalar T>
void attention_blocked_forward(int t, int d, T scale, const T* q, const T* k, const T* v, int ld, T* o, int ldo,
                               T* lse, const softmax_mask& mask) {
  require(t >= 0 && d >= 1 && ld >= d && ldo >= d, "attention_blocked_forward: bad sizes");
  std::vector<T> p;
  detail::attention_probs(t, d, scale, q, k, ld, mask, p, lse);
  for (int i = 0; i < t; ++i)
    for (int c = 0; c < d; ++c) {
      T s = 0;
      for (int j = 0; j < t; ++j) s += p[std::size_t(i) * t + j] * v[std::ptrdiff_t(j) * ld + c];
      o[std::ptrdiff_t(i) * ldo + c] = s;
    }
}

// O[i] = Σ_{j < mask.limit(i, kv_len)} softmax_j(scale q_i·k_j) v_j: rows
// queries over kv_len cached keys (kernels::attention_cached_forward).
template <kernel_scalar T>
void attention_cached_forward(int rows, int kv_len, int d, T scale, const T* q, int ldq, const T* k,
                              const T* v, int ldkv, T* o, int ldo, const softmax_mask& mask) {
  require(rows >= 0 && kv_len >= 0 && d >= 1 && ldq >= d && ldkv >= d && ldo >= d,
          "attention_cached_forward: bad sizes");
  std::vector<T> p(static_cast<std::size_t>(kv_len > 0 ? kv_len : 1));
  for (int i = 0; i < rows; ++i) {
    const int lim = mask.limit(i, kv_len);
    T mx = -std::numeric_limits<T>::infinity();
    for (int j = 0; j < lim; ++j) {
      T sij = 0;
      for (int c = 0; c < d; ++c) sij += q[std::ptrdiff_t(i) * ldq + c] * k[std::ptrdiff_t(j) * ldkv + c];
      p[std::size_t(j)] = scale * sij;
      if (p[std::size_t(j)] > mx) mx = p[std::size_t(j)];
    }
    T sum = 0;
    for (int j = 0; j < lim; ++j) sum += (p[std::size_t(j)] = std::exp(p[std::size_t(j)] - mx));
    for (int c = 0; c < d; ++c) {
      T acc = 0;
      for (int j = 0; j < lim; ++j) acc += p[std::size_t(j)] * v[std::ptrdiff_t(j) * ldkv + c];
      o[std::ptrdiff_t(i) * ldo + c] = lim > 0 ? acc / sum : T(0);
    }
  }
}

template <kernel_scalar T>
void attention_blocked_backward(int t, int d, T scale, const T* q, const T* k, const T* v, int ld, const T* o,
                                int ldo, const T* dout, const T* lse, T* dq, T* dk, T* dv, int ldd,
                                const softmax_mask& mask) {
  (void)o;
  (void)lse;
  require(t >= 0 && d >= 1 && ld >= d && ldo >= d && ldd >= d, "attention_blocked_backward: bad sizes");
  std::vector<T> p, dp(std::size_t(t) * t, T(0)), lse2(static_cast<std::size_t>(t), T(0));
  detail::attention_probs(t, d, scale, q, k, ld, mask, p, lse2.data());
  // dP = dO Vᵀ; dS = scale P (dP − Σ_j P dP).
  for (int i = 0; i < t; ++i) {
    for (int j = 0; j < t; ++j) {
      T s = 0;
      for (int c = 0; c < d; ++c) s += dout[std::ptrdiff_t(i) * ldo + c] * v[std::ptrdiff_t(j) * ld + c];
      dp[std::size_t(i) * t + j] = s;
    }
    T dot = 0;
    for (int j = 0; j < t; ++j) dot += p[std::size_t(i) * t + j] * dp[std::size_t(i) * t + j];
    for (int j = 0; j < t; ++j)
      dp[std::size_t(i) * t + j] = scale * p[std::size_t(i) * t + j] * (dp[std::size_t(i) * t + j] - dot);
  }
  for (int i = 0; i < t; ++i)
    for (int c = 0; c < d; ++c) {
      T sq = 0, sk = 0, sv = 0;
      for (int j = 0; j < t; ++j) {
        sq += dp[std::size_t(i) * t + j] * k[std::ptrdiff_t(j) * ld + c];
        sk += dp[std::size_t(j) * t + i] * q[std::ptrdiff_t(j) * ld + c];
        sv += p[std::size_t(j) * t + i] * dout[std::ptrdiff_t(j) * ldo + c];
      }
      dq[std::ptrdiff_t(i) * ldd + c] = sq;
      dk[std::ptrdiff_t(i) * ldd + c] = sk;
      dv[std::ptrdiff_t(i) * ldd + c] = sv;
    }
}

}  // namespace autodidact::kernels::reference
