#pragma once
// Embedding lookup (a gather of table rows) and its scatter-add backward.
//
//   forward:  out[n,:] (=|+=) table[ids[n],:]      for n in [0, N)
//   backward: dtable[ids[n],:] += dout[n,:]        for n = 0, 1, ..., N-1 in order
//
// Preconditions:
// - N >= 0, C >= 1, table_rows >= 1; out, dout: [N, C] dense; table,
//   dtable: [table_rows, C] dense.
// - Every id is in [0, table_rows); otherwise autodidact::invalid_argument
//   names the position, the id and the table size.
// - write_mode::accumulate lets token + position + segment embeddings be
//   summed into one buffer (position ids are just 0..T-1 per sequence).
// Deterministic: the forward splits rows; the backward splits channel ranges
// and adds the rows of dout in order, so repeated ids always sum the same way.

#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t

#include "autodidact/core/threading.hpp"  // for detail::streaming_parallel_elements
#include "autodidact/kernels/common.hpp"  // for write_mode, detail::check_ids
#include "autodidact/simd/simd.hpp"       // for simd::batch, load, store

namespace autodidact::kernels {

// out[n,:] (=|+=) table[ids[n],:].   ids: [N]   table: [table_rows, C]   out: [N, C]
template <kernel_scalar T>
void embedding_forward(int n, int c, const std::int32_t* ids, const T* table, int table_rows,
                       T* out, write_mode mode) {
  require(n >= 0 && c >= 1 && table_rows >= 1, "embedding_forward: N = ", n, ", C = ", c,
          ", table rows = ", table_rows, " (need N >= 0, C >= 1, rows >= 1)");
  detail::check_ids("embedding_forward", n, ids, table_rows);
  constexpr int w = simd::width<T>;
  const bool acc = mode == write_mode::accumulate;
  kernels::detail::parallel_for(0, n, double(n) * c > detail::streaming_parallel_elements, [&](int i) {
    const T* src = table + std::ptrdiff_t(ids[i]) * c;
    T* dst = out + std::ptrdiff_t(i) * c;
    int j = 0;
    if (acc) {
      for (; j + w <= c; j += w) simd::store(dst + j, simd::load(dst + j) + simd::load(src + j));
      for (; j < c; ++j) dst[j] += src[j];
    } else {
      for (; j + w <= c; j += w) simd::store(dst + j, simd::load(src + j));
      for (; j < c; ++j) dst[j] = src[j];
    }
  });
}

// dtable[ids[n],:] += dout[n,:].   ids: [N]   dout: [N, C]   dtable: [table_rows, C]
template <kernel_scalar T>
void embedding_backward(int n, int c, const std::int32_t* ids, const T* dout, int table_rows,
                        T* dtable) {
  require(n >= 0 && c >= 1 && table_rows >= 1, "embedding_backward: N = ", n, ", C = ", c,
          ", table rows = ", table_rows, " (need N >= 0, C >= 1, rows >= 1)");
  detail::check_ids("embedding_backward", n, ids, table_rows);
  constexpr int w = simd::width<T>;
  constexpr int cb = 4 * w;  // channels per parallel block
  const int blocks = (c + cb - 1) / cb;
  kernels::detail::parallel_for(0, blocks, double(n) * c > detail::streaming_parallel_elements, [&](int blk) {
    const int j0 = blk * cb;
    const int j1 = j0 + cb < c ? j0 + cb : c;
    for (int i = 0; i < n; ++i) {
      const T* src = dout + std::ptrdiff_t(i) * c;
      T* dst = dtable + std::ptrdiff_t(ids[i]) * c;
      int j = j0;
      for (; j + w <= j1; j += w) simd::store(dst + j, simd::load(dst + j) + simd::load(src + j));
      for (; j < j1; ++j) dst[j] += src[j];
    }
  });
}

}  // namespace autodidact::kernels
