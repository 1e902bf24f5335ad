#pragma once
// Reference twin of kernels/embedding.hpp: row copies and row adds in order.
// Same signatures and preconditions as the kernels (see embedding.hpp).

#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t

#include "autodidact/kernels/common.hpp"  // for write_mode, kernels::detail::check_ids

namespace autodidact::kernels::reference {

// out[n,:] (=|+=) table[ids[n],:].   ids: [N]   table: [table_rows, C]   out: [N, C]
template <kernel_scalar T>
void embedding_forward(int n, int c, const std::int32_t* ids, const T* table, int table_rows,
                       T* out, write_mode mode) {
  require(n >= 0 && c >= 1 && table_rows >= 1, "embedding_forward: N = ", n, ", C = ", c,
          ", table rows = ", table_rows, " (need N >= 0, C >= 1, rows >= 1)");
  kernels::detail::check_ids("embedding_forward", n, ids, table_rows);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < c; ++j) {
      const T v = table[std::ptrdiff_t(ids[i]) * c + j];
      T& o = out[std::ptrdiff_t(i) * c + j];
      o = mode == write_mode::accumulate ? o + v : v;
    }
}

// dtable[ids[n],:] += dout[n,:].   ids: [N]   dout: [N, C]   dtable: [table_rows, C]
template <kernel_scalar T>
void embedding_backward(int n, int c, const std::int32_t* ids, const T* dout, int table_rows,
                        T* dtable) {
  require(n >= 0 && c >= 1 && table_rows >= 1, "embedding_backward: N = ", n, ", C = ", c,
          ", table rows = ", table_rows, " (need N >= 0, C >= 1, rows >= 1)");
  kernels::detail::check_ids("embedding_backward", n, ids, table_rows);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < c; ++j) dtable[std::ptrdiff_t(ids[i]) * c + j] += dout[std::ptrdiff_t(i) * c + j];
}

}  // namespace autodidact::kernels::reference
