#pragma once
// Reference twin of kernels/gemm.hpp: the textbook triple loop, one element
// of C at a time, summing over p = 0..K-1 in order, then the epilogue.
// Same signatures and preconditions as the kernels (see gemm.hpp).

#include <cstddef>  // for std::ptrdiff_t

#include "autodidact/kernels/common.hpp"  // for transpose, write_mode, gemm_epilogue, kernels::detail::check_gemm

namespace autodidact::kernels::reference {

// C (=|+=) alpha * op(A) op(B), then the epilogue (overwrite only).
//   A: [M,K] or [K,M] (lda)   B: [K,N] or [N,K] (ldb)   C: [M,N] (ldc)
template <kernel_scalar T>
void gemm(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, write_mode mode, T* c, int ldc,
          const gemm_epilogue<T>& epilogue = {}) {
  kernels::detail::check_gemm(trans_a, trans_b, m, n, k, lda, ldb, ldc, mode, epilogue.empty(),
                     epilogue.residual != nullptr, epilogue.ldr);
  using std::ptrdiff_t;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      T acc = 0;
      for (int p = 0; p < k; ++p) {
        const T aip = trans_a == transpose::no ? a[ptrdiff_t(i) * lda + p] : a[ptrdiff_t(p) * lda + i];
        const T bpj = trans_b == transpose::no ? b[ptrdiff_t(p) * ldb + j] : b[ptrdiff_t(j) * ldb + p];
        acc += aip * bpj;
      }
      T& cij = c[ptrdiff_t(i) * ldc + j];
      if (mode == write_mode::accumulate) {
        cij += alpha * acc;
        continue;
      }
      T z = alpha * acc;
      if (epilogue.bias) z += epilogue.bias[j];
      if (epilogue.pre_activation) epilogue.pre_activation[ptrdiff_t(i) * ldc + j] = z;
      z = kernels::detail::apply_activation(epilogue.act, z);
      if (epilogue.residual) z += epilogue.residual[ptrdiff_t(i) * epilogue.ldr + j];
      cij = z;
    }
  }
}

// db[j] += sum_i dY[i, j].   dY: [M,N] (lddy)   db: [N]
template <kernel_scalar T>
void bias_backward(int m, int n, const T* dy, int lddy, T* db) {
  kernels::detail::check_rows("bias_backward", m, n);
  kernels::detail::check_ld("bias_backward", "lddy", lddy, n);
  for (int j = 0; j < n; ++j) {
    T s = db[j];
    for (int i = 0; i < m; ++i) s += dy[std::ptrdiff_t(i) * lddy + j];
    db[j] = s;
  }
}

}  // namespace autodidact::kernels::reference
