#pragma once
// GELU forward and backward over a flat array (elementwise).
//
// Preconditions:
// - n >= 0; in, out, dout, din each hold n elements.
// - out may alias in (forward in place); din may alias dout (backward in place).
// - kind is gelu_kind::erf, 0.5 x (1 + erf(x / sqrt 2)) (BERT), or
//   gelu_kind::tanh, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2).
// - Backward: din = gelu'(in) * dout (write_mode::overwrite) or
//   din += gelu'(in) * dout (write_mode::accumulate); `in` is the forward's input.

#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/config.hpp"            // for autodidact::gelu_kind
#include "autodidact/kernels/common.hpp"    // for write_mode, detail::gelu_* scalar formulas
#include "autodidact/simd/simd.hpp"         // for simd::batch, load, store, erf, tanh, exp

namespace autodidact::kernels {

namespace detail {

template <class T>
inline simd::batch<T> gelu_erf_v(const simd::batch<T>& x) {
  using B = simd::batch<T>;
  return B(T(0.5)) * x * (B(T(1)) + simd::erf(x * B(inv_sqrt2<T>)));
}
template <class T>
inline simd::batch<T> gelu_erf_grad_v(const simd::batch<T>& x) {
  using B = simd::batch<T>;
  return B(T(0.5)) * (B(T(1)) + simd::erf(x * B(inv_sqrt2<T>))) +
         x * simd::exp(B(T(-0.5)) * x * x) * B(inv_sqrt_2pi<T>);
}
template <class T>
inline simd::batch<T> gelu_tanh_v(const simd::batch<T>& x) {
  using B = simd::batch<T>;
  const B u = B(sqrt_2_over_pi<T>) * (x + B(gelu_tanh_c<T>) * x * x * x);
  return B(T(0.5)) * x * (B(T(1)) + simd::tanh(u));
}
template <class T>
inline simd::batch<T> gelu_tanh_grad_v(const simd::batch<T>& x) {
  using B = simd::batch<T>;
  const B u = B(sqrt_2_over_pi<T>) * (x + B(gelu_tanh_c<T>) * x * x * x);
  const B t = simd::tanh(u);
  return B(T(0.5)) * (B(T(1)) + t) + B(T(0.5)) * x * (B(T(1)) - t * t) * B(sqrt_2_over_pi<T>) *
                                        (B(T(1)) + B(T(3) * gelu_tanh_c<T>) * x * x);
}
template <class T>
inline simd::batch<T> apply_activation_v(activation act, const simd::batch<T>& x) {
  switch (act) {
    case activation::gelu_erf: return gelu_erf_v(x);
    case activation::gelu_tanh: return gelu_tanh_v(x);
    default: return x;
  }
}

template <class T, bool Erf>
inline void gelu_forward_impl(std::ptrdiff_t n, const T* in, T* out) {
  constexpr int w = simd::width<T>;
  std::ptrdiff_t i = 0;
  for (; i + w <= n; i += w) {
    const simd::batch<T> x = simd::load(in + i);
    simd::store(out + i, Erf ? gelu_erf_v(x) : gelu_tanh_v(x));
  }
  for (; i < n; ++i) out[i] = Erf ? gelu_erf(in[i]) : gelu_tanh(in[i]);
}

template <class T, bool Erf, bool Accumulate>
inline void gelu_backward_impl(std::ptrdiff_t n, const T* in, const T* dout, T* din) {
  constexpr int w = simd::width<T>;
  std::ptrdiff_t i = 0;
  for (; i + w <= n; i += w) {
    const simd::batch<T> x = simd::load(in + i);
    simd::batch<T> d = (Erf ? gelu_erf_grad_v(x) : gelu_tanh_grad_v(x)) * simd::load(dout + i);
    if constexpr (Accumulate) d += simd::load(din + i);
    simd::store(din + i, d);
  }
  for (; i < n; ++i) {
    const T d = (Erf ? gelu_erf_grad(in[i]) : gelu_tanh_grad(in[i])) * dout[i];
    din[i] = Accumulate ? din[i] + d : d;
  }
}

// Elements per parallel chunk of the elementwise maps.
inline constexpr std::ptrdiff_t elementwise_chunk = 16384;

}  // namespace detail

// out[i] = gelu(in[i]).   in, out: [n]
template <kernel_scalar T>
void gelu_forward(gelu_kind kind, std::ptrdiff_t n, const T* in, T* out) {
  require(n >= 0, "gelu_forward: n = ", n, " must not be negative");
  const std::ptrdiff_t chunks = (n + detail::elementwise_chunk - 1) / detail::elementwise_chunk;
  kernels::detail::parallel_for(0, chunks, chunks > 1, [&](std::ptrdiff_t c) {
    const std::ptrdiff_t b = c * detail::elementwise_chunk;
    const std::ptrdiff_t len = n - b < detail::elementwise_chunk ? n - b : detail::elementwise_chunk;
    if (kind == gelu_kind::erf)
      detail::gelu_forward_impl<T, true>(len, in + b, out + b);
    else
      detail::gelu_forward_impl<T, false>(len, in + b, out + b);
  });
}

// din[i] (=|+=) gelu'(in[i]) * dout[i].   in, dout, din: [n]
template <kernel_scalar T>
void gelu_backward(gelu_kind kind, std::ptrdiff_t n, const T* in, const T* dout, T* din,
                   write_mode mode) {
  require(n >= 0, "gelu_backward: n = ", n, " must not be negative");
  const std::ptrdiff_t chunks = (n + detail::elementwise_chunk - 1) / detail::elementwise_chunk;
  const bool acc = mode == write_mode::accumulate;
  kernels::detail::parallel_for(0, chunks, chunks > 1, [&](std::ptrdiff_t c) {
    const std::ptrdiff_t b = c * detail::elementwise_chunk;
    const std::ptrdiff_t len = n - b < detail::elementwise_chunk ? n - b : detail::elementwise_chunk;
    if (kind == gelu_kind::erf) {
      if (acc)
        detail::gelu_backward_impl<T, true, true>(len, in + b, dout + b, din + b);
      else
        detail::gelu_backward_impl<T, true, false>(len, in + b, dout + b, din + b);
    } else {
      if (acc)
        detail::gelu_backward_impl<T, false, true>(len, in + b, dout + b, din + b);
      else
        detail::gelu_backward_impl<T, false, false>(len, in + b, dout + b, din + b);
    }
  });
}

}  // namespace autodidact::kernels
