#pragma once
// GEMM drivers (part of kernels/gemm.hpp; include that header): the
// unpacked path, the packed cache-blocked loops over one thread's share of
// C, and the split of C over threads.
//
// Preconditions: the arguments have passed detail::check_gemm (gemm and
// gemm_prepacked in kernels/gemm.hpp check them before calling here).

#include <cstddef>  // for std::ptrdiff_t, std::size_t
#include <cstdint>  // for std::uintptr_t
#include <vector>   // for std::vector (the unpacked (yes, yes) fallback)

#include "autodidact/core/threading.hpp"             // for detail::gemm_parallel_work, in_parallel, partition
#include "autodidact/kernels/common.hpp"              // for transpose, write_mode, gemm_epilogue
#include "autodidact/kernels/gemm/blocking.hpp"      // for gemm_blocking, gemm_buffers
#include "autodidact/kernels/gemm/gemv.hpp"          // for gemv_range
#include "autodidact/kernels/gemm/micro_kernel.hpp"  // for gemm_micro, gemm_write_row, gemm_row_epilogue, gemm_row_block, ...
#include "autodidact/kernels/gemm/pack.hpp"          // for gemm_pack_a, gemm_pack_b

namespace autodidact::kernels {

namespace detail {
// The unpacked path (register tiles straight from A and B, no cache
// blocking), kept for K = 0 and for the one epilogue the packed path cannot
// finish in place (an activation with a residual that overlaps C and K
// above one K block). Runs on the calling thread only.
template <class T>
void gemm_unpacked(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a,
                   int lda, const T* b, int ldb, write_mode mode, T* c, int ldc,
                   const gemm_epilogue<T>& epilogue) {

  if (trans_a == transpose::no && trans_b == transpose::yes) {
    // Dot-product form: rows of A against rows of B, both contiguous in K.
    constexpr int mr = 2;
    const int blocks = (m + mr - 1) / mr;
    for (int ib = 0; ib < blocks; ++ib) {
      const int i0 = ib * mr;
      if (m - i0 >= 2) gemm_dot_row_block<T, 2>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
      else gemm_dot_row_block<T, 1>(i0, n, k, a, lda, b, ldb, alpha, mode, c, ldc, epilogue);
    }
    return;
  }

  // Broadcast form: B with contiguous rows [K,N]. For (yes, yes), B^T is
  // first copied into such a buffer.
  std::vector<T> packed;
  const T* bk = b;
  std::ptrdiff_t ldbk = ldb;
  if (trans_b == transpose::yes) {
    packed.resize(std::size_t(k) * std::size_t(n));
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) packed[std::size_t(p) * n + j] = b[std::ptrdiff_t(j) * ldb + p];
    bk = packed.data();
    ldbk = n;
  }
  // Element (i, p) of op(A) is a[i*a_rs + p*a_cs].
  const std::ptrdiff_t a_rs = trans_a == transpose::no ? lda : 1;
  const std::ptrdiff_t a_cs = trans_a == transpose::no ? 1 : lda;
  constexpr int mr = 4;
  const int blocks = (m + mr - 1) / mr;
  for (int ib = 0; ib < blocks; ++ib) {
    const int i0 = ib * mr;
    switch (m - i0 >= mr ? mr : m - i0) {
      case 4: gemm_row_block<T, 4>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 3: gemm_row_block<T, 3>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      case 2: gemm_row_block<T, 2>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
      default: gemm_row_block<T, 1>(i0, n, k, a, a_rs, a_cs, bk, ldbk, alpha, mode, c, ldc, epilogue); break;
    }
  }
}
}  // namespace detail

namespace detail {

// ---- packed, cache-blocked GEMM ------------------------------------------
//
// Goto/BLIS structure, written once against simd::batch<T> (any width):
//   for each NC-wide column block of C (jc):
//     for each KC-deep slice of K (pc):   pack op(B)[pc.., jc..] into NR-wide panels
//       for each MC-high row block (ic):
//         for each MR row panel (ir):     read op(A) straight from A (its panel
//                                         stays in L1; a partial last panel is
//                                         packed, zero-padded)
//           for each NR column panel (jr): micro-kernel MR x NR, K = kc,
//                                          B panels stream from L2 (prefetched),
//                                          the C tile is prefetched
// Packing B makes every transpose case of B the same inner loop; rows of A
// are broadcast in place, rows of Aᵀ from a packed block when it has several
// column panels (see the ic loop). Every element
// of C is computed by the same micro-kernel in the same order whatever the
// thread count or its position.
// Several K slices: the raw partial sums are kept in C (or in
// pre_activation, when the epilogue saves it) and alpha and the epilogue are
// applied with the last slice.

// One thread's share: rows [m0, m1) and columns [n0, n1) of C, both
// starting on the global MR / NR tile grid.
// With b_packed (op(B) packed whole by pack_b), the B panels are read from
// it in place instead of being packed here.
template <class T>
void gemm_packed_range(transpose ta, transpose tb, int m0, int m1, int n0, int n1, int k, T alpha,
                       const T* a, int lda, const T* b, int ldb, const T* b_packed, write_mode mode, T* c,
                       int ldc, const gemm_epilogue<T>& ep) {
  // One row (batch-1 decoding: the weights, attention over the cache): a
  // matrix x vector with the same roundings (gemv.hpp).
  if (m1 - m0 == 1) {
    gemv_range(ta, tb, m0, n0, n1, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc, ep);
    return;
  }
  using blk = gemm_blocking<T>;
  constexpr int mr = blk::mr, nr = blk::nr;
  gemm_buffers<T>& buf = gemm_buffers<T>::get();
  alignas(64) T tile[mr * nr];
  const bool pre_raw = ep.pre_activation != nullptr;
  // K slices and column blocks of near-equal size (a short last slice would
  // pay a whole write-back for little work); column blocks stay multiples
  // of NR so the tile grid, and hence every element's code path, is the
  // same for any split over threads.
  const int k_slices = (k + blk::kc - 1) / blk::kc;
  const int kc_step = (k + k_slices - 1) / k_slices;
  // Column blocks fill the B buffer (about 1 MB, in L2) at this slice depth:
  // a shallow K (a weight gradient over few tokens) gets wider blocks, so
  // A is streamed fewer times.
  const int nc_max = int(gemm_buffers<T>::b_size / std::size_t(kc_step)) / nr * nr;
  const int n_blocks = (n1 - n0 + nc_max - 1) / nc_max;
  const int nc_step = ((n1 - n0 + n_blocks - 1) / n_blocks + nr - 1) / nr * nr;
  for (int jc = n0; jc < n1; jc += nc_step) {
    const int nc = n1 - jc < nc_step ? n1 - jc : nc_step;
    for (int pc = 0; pc < k; pc += kc_step) {
      const int kc = k - pc < kc_step ? k - pc : kc_step;
      const gemm_slice slice = gemm_slice_at(pc, kc, k);
      // Panel q of this slice: NR columns x kc rows, row stride NR; in a
      // prepacked B the panel holds all K rows, so the slice starts pc rows in.
      const T* bblock = b_packed ? b_packed + std::ptrdiff_t(jc) * k + std::ptrdiff_t(pc) * nr : buf.b;
      const std::ptrdiff_t panel_stride = b_packed ? std::ptrdiff_t(nr) * k : std::ptrdiff_t(nr) * kc;
      if (!b_packed) gemm_pack_b(tb, b, ldb, pc, kc, jc, nc, buf.b);
      for (int ic = m0; ic < m1; ic += blk::mc) {
        const int mc = m1 - ic < blk::mc ? m1 - ic : blk::mc;
        // Full MR panels of op(A) = A are read straight from A (no packing
        // pass); a last, partial panel is packed (zero-padded). Same
        // arithmetic either way.
        // op(A) = Aᵀ would take each step of K from another line of A, and
        // row strides that are multiples of 512 B put a panel's lines in a
        // few L1 sets: when the block has more than one column panel, the
        // whole MC x KC block is packed first instead, walking the rows of
        // A in order (gemm_pack_a), and every tile reads packed panels.
        // That replaced packing each panel on the fly by its first tile
        // (from A's scattered lines, inside the micro-kernel): see
        // docs/performance.md. Not at row strides past 64 KB (a 50304-row
        // dW: each step a new page), where packing on the fly was measured
        // 5 % slower than reading A in place (gemm_pack_at_max_stride,
        // blocking.hpp).
        const int full = mc / mr * mr;
        const bool pack_at =
            ta == transpose::yes && nc > nr && std::size_t(lda) * sizeof(T) <= gemm_pack_at_max_stride;
        if (pack_at) gemm_pack_a(ta, a, lda, ic, mc, pc, kc, buf.a);
        else if (full < mc) gemm_pack_a(ta, a, lda, ic + full, mc - full, pc, kc, buf.a + std::ptrdiff_t(full) * kc);
        for (int ir = 0; ir < mc; ir += mr) {
          const int rows = mc - ir < mr ? mc - ir : mr;
          for (int jr = 0; jr < nc; jr += nr) {
            const int cols = nc - jr < nr ? nc - jr : nr;
            const T* bpanel = bblock + std::ptrdiff_t(jr / nr) * panel_stride;
            // Bring the C tile (or the raw sums) towards L1 while the
            // micro-kernel runs: written below, often not in cache.
            for (int r = 0; r < rows; ++r) {
              const char* crow = reinterpret_cast<const char*>(
                  (pre_raw ? ep.pre_activation : c) + std::ptrdiff_t(ic + ir + r) * ldc + jc + jr);
              for (int off = 0; off < cols * int(sizeof(T)); off += 64) __builtin_prefetch(crow + off, 1, 3);
            }
            const int j = jc + jr;
            // Vectors of the panel that hold columns of C: a last, partial
            // panel computes only those (gemm_micro's NVC).
            const int nvc = (cols + blk::w - 1) / blk::w;
            // A whole tile (or the whole vectors of a partial panel) whose
            // write-back is a plain store or add (C += alpha AB; the first
            // or a middle K slice of raw sums) is written by the
            // micro-kernel itself, without the tile buffer.
            const bool direct = rows == mr && cols == nvc * blk::w &&
                                (mode == write_mode::accumulate || slice == gemm_slice::first ||
                                 slice == gemm_slice::middle);
            T* out = tile;
            std::ptrdiff_t ldo = nr;
            bool add = false;
            T out_alpha = T(1);
            if (direct) {
              const std::ptrdiff_t i0 = ic + ir;
              out = (mode == write_mode::overwrite && pre_raw ? ep.pre_activation : c) + i0 * ldc + j;
              ldo = ldc;
              add = mode == write_mode::accumulate || slice == gemm_slice::middle;
              out_alpha = mode == write_mode::accumulate ? alpha : T(1);
            }
            // A panel packed above: the whole block's (pack_at) or the
            // partial last one.
            if (pack_at || ir >= full)
              gemm_micro_cols<T, mr, blk::nv>(nvc, kc, buf.a + std::ptrdiff_t(ir) * kc, 0, bpanel, out, ldo, add,
                                              out_alpha);
            else if (ta == transpose::no && b_packed)
              gemm_micro_cols<T, mr, blk::nv, gemm_a_layout::rows, true>(
                  nvc, kc, a + std::ptrdiff_t(ic + ir) * lda + pc, lda, bpanel, out, ldo, add, out_alpha);
            else if (ta == transpose::no)
              gemm_micro_cols<T, mr, blk::nv, gemm_a_layout::rows>(nvc, kc, a + std::ptrdiff_t(ic + ir) * lda + pc,
                                                                   lda, bpanel, out, ldo, add, out_alpha);
            else
              gemm_micro_cols<T, mr, blk::nv, gemm_a_layout::cols>(nvc, kc, a + std::ptrdiff_t(pc) * lda + ic + ir,
                                                                   lda, bpanel, out, ldo, add, out_alpha);
            if (direct) continue;
            for (int r = 0; r < rows; ++r) {
              const std::ptrdiff_t i = ic + ir + r;
              T* crow = c + i * ldc + j;
              const gemm_row_epilogue<T> e(ep, i, j, ldc);
              gemm_write_row(tile + r * nr, cols, slice, alpha, mode, crow, pre_raw ? e.pre : crow, e);
            }
          }
        }
      }
    }
  }
}

// Whether [p, p + span) and [q, q + span2) overlap.
template <class T>
inline bool gemm_overlaps(const T* p, std::ptrdiff_t span, const T* q, std::ptrdiff_t span2) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(p), b0 = reinterpret_cast<std::uintptr_t>(q);
  return a0 < b0 + std::uintptr_t(span2) * sizeof(T) && b0 < a0 + std::uintptr_t(span) * sizeof(T);
}

}  // namespace detail

namespace detail {
// Splits C over threads (outermost level only) into row or column ranges on
// the register-tile grid; each thread packs its own operands (no barriers).
template <class T>
void gemm_threaded(transpose trans_a, transpose trans_b, int m, int n, int k, T alpha, const T* a, int lda,
                   const T* b, int ldb, const T* b_packed, write_mode mode, T* c, int ldc,
                   const gemm_epilogue<T>& epilogue) {
  using blk = gemm_blocking<T>;
  const double work = double(m) * n * k;
  int threads = 1;
  // Above gemm_parallel_work multiply-adds (core/threading.hpp, where it
  // was measured) a product is split over threads, when not already inside
  // a parallel region (a GEMM never opens a nested team).
  if (work > autodidact::detail::gemm_parallel_work && !autodidact::detail::in_parallel())
    threads = autodidact::detail::max_threads();
  const int mtiles = (m + blk::mr - 1) / blk::mr, ntiles = (n + blk::nr - 1) / blk::nr;
  // Split the longer side: a column chunk re-reads A (M x K), a row chunk
  // re-packs B (K x N) unless B is prepacked.
  const bool split_rows = mtiles * blk::mr >= ntiles * blk::nr ? mtiles >= 2 : ntiles < 2;
  const int tiles = split_rows ? mtiles : ntiles;
  if (threads > tiles) threads = tiles;
  if (threads <= 1) {
    gemm_packed_range(trans_a, trans_b, 0, m, 0, n, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc, epilogue);
    return;
  }
#ifdef _OPENMP
  // Two chunks per thread, handed out dynamically: a thread that the OS
  // deschedules (a shared machine) delays at most its current chunk.
  const int chunks = tiles < 2 * threads ? tiles : 2 * threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int ch = 0; ch < chunks; ++ch) {
    const auto [t0, t1] = autodidact::detail::partition(tiles, ch, chunks);
    if (split_rows) {
      const int r0 = t0 * blk::mr, r1 = t1 * blk::mr < m ? t1 * blk::mr : m;
      gemm_packed_range(trans_a, trans_b, r0, r1, 0, n, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc,
                        epilogue);
    } else {
      const int c0 = t0 * blk::nr, c1 = t1 * blk::nr < n ? t1 * blk::nr : n;
      gemm_packed_range(trans_a, trans_b, 0, m, c0, c1, k, alpha, a, lda, b, ldb, b_packed, mode, c, ldc,
                        epilogue);
    }
  }
#endif
}
}  // namespace detail

}  // namespace autodidact::kernels
