#pragma once
// Reference twin of kernels/gelu.hpp: one scalar loop, std::erf / std::tanh.
// Same signatures and preconditions as the kernels.

#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/config.hpp"          // for autodidact::gelu_kind
#include "autodidact/kernels/common.hpp"  // for write_mode, kernels::detail::gelu_* formulas

namespace autodidact::kernels::reference {

// out[i] = gelu(in[i]).   in, out: [n]
template <kernel_scalar T>
void gelu_forward(gelu_kind kind, std::ptrdiff_t n, const T* in, T* out) {
  require(n >= 0, "gelu_forward: n = ", n, " must not be negative");
  for (std::ptrdiff_t i = 0; i < n; ++i)
    out[i] = kind == gelu_kind::erf ? kernels::detail::gelu_erf(in[i]) : kernels::detail::gelu_tanh(in[i]);
}

// din[i] (=|+=) gelu'(in[i]) * dout[i].   in, dout, din: [n]
template <kernel_scalar T>
void gelu_backward(gelu_kind kind, std::ptrdiff_t n, const T* in, const T* dout, T* din,
                   write_mode mode) {
  require(n >= 0, "gelu_backward: n = ", n, " must not be negative");
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T g = kind == gelu_kind::erf ? kernels::detail::gelu_erf_grad(in[i]) : kernels::detail::gelu_tanh_grad(in[i]);
    const T d = g * dout[i];
    din[i] = mode == write_mode::accumulate ? din[i] + d : d;
  }
}

}  // namespace autodidact::kernels::reference
