#pragma once
// Threading vocabulary shared by the kernels and layers: when a loop is
// worth a team of OpenMP threads (the size thresholds, one named constant
// each), how a loop is split (parallel_for, partition), and the two
// questions asked of OpenMP (in_parallel, max_threads).
//
// Rules every user keeps (DESIGN.md, "Deterministic"):
// - threads split only independent outputs, so a result never depends on
//   the thread count or on which path ran;
// - a team is opened at the outermost level only (never nested), and never
//   through `#pragma omp parallel for if (...)` (see parallel_for).
//
// The thresholds count elements (or multiply-adds) per call; below them the
// fork/join of a team costs more than the split saves, and on a 2-core
// machine whose other core is busy a spinning barrier can wait milliseconds
// for a descheduled worker.

#include <cstdint>      // for std::int64_t
#include <type_traits>  // for std::type_identity_t

#ifdef _OPENMP
#include <omp.h>  // for omp_in_parallel, omp_get_max_threads
#endif

namespace autodidact::detail {

// ---- thresholds -------------------------------------------------------------

// Row-wise kernels with a few passes and an exp or a square root per
// element (softmax, layernorm forward and backward, cross-entropy): split
// over threads above rows x row length elements. Not measured: set when
// these kernels were first written (commit 44d04ea, as `omp parallel for
// if`) and kept since; no benchmark of the crossover is recorded.
inline constexpr double rowwise_parallel_elements = 32768.0;

// Kernels with one load and one store or add per element (embedding gather
// and scatter-add, the bias gradient's column sums): split above rows x
// columns elements. Not measured either: set with the kernels in commit
// 44d04ea (twice the row-wise figure, the work per element being lighter).
inline constexpr double streaming_parallel_elements = 65536.0;

// A GEMM is split over threads above this many multiply-adds (2^22, about
// 30 µs on one core). Measured with the packed GEMM (commit edfe95f) on the
// 2-core Intel Xeon VM with AVX-512 (Sapphire Rapids class,
// docs/performance.md): lower, the fork/join cost more than it saved and,
// with the other core busy, a spinning barrier waited ms per call.
inline constexpr double gemm_parallel_work = 4194304.0;

// A new model's weights are drawn (models::init_options) over threads above
// this many pairs of normal draws per tensor (65536 pairs, 128 K values).
// Not measured: set when the initialisation was first threaded, as the
// streaming kernels' figure; the draws are independent per element, so the
// weights are the same on any thread count.
inline constexpr double init_parallel_pairs = 65536.0;

// The incremental (KV-cache) forward of inference/cached_forward.hpp:
// - decoding a few rows opens one team for the whole stack only when a
//   block is worth six meetings of the team: at least 2^19 multiply-adds
//   per block (about 2 MB of fp32 weights; GPT-2 small has 7.1 M per block
//   and token);
inline constexpr double decode_team_work = 524288.0;
// - otherwise the attention heads of the new rows are split over threads
//   above 2^18 multiply-adds (Q Kᵀ and P V over the cached keys).
// Neither was measured as a crossover: both were set with the KV cache and
// kept since.
inline constexpr double decode_heads_parallel_work = 262144.0;

// ---- asking OpenMP ----------------------------------------------------------

// Whether the caller runs inside a parallel region (true without OpenMP, so
// that no team is ever opened).
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return true;
#endif
}

// The threads a new team would get (1 without OpenMP).
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// ---- splitting a loop -------------------------------------------------------

// Runs body(i) for i in [begin, end): split over OpenMP's threads with a
// static schedule (thread k gets the k-th contiguous block) when `parallel`
// holds, OpenMP has more than one thread and we are not already inside a
// parallel region; otherwise a plain loop on the calling thread. Every
// iteration writes its own outputs, so the result never depends on which
// path ran. Not `#pragma omp parallel for if (parallel)`: GCC's libgomp
// heap-allocates a one-thread team for every region it enters with a false
// condition, one thread, or inside another region (about 200 allocations
// per encoder training step), and a step must allocate nothing.
template <class Index, class Body>
inline void parallel_for(std::type_identity_t<Index> begin, Index end, bool parallel, const Body& body) {
#ifdef _OPENMP
  if (parallel && end - begin > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (Index i = begin; i < end; ++i) body(i);
    return;
  }
#else
  (void)parallel;
#endif
  for (Index i = begin; i < end; ++i) body(i);
}

// A half-open range [begin, end) of indices (rows, columns, tiles).
struct index_range {
  int begin = 0;
  int end = 0;
};

// Part `part` (0 <= part < parts) of [0, n) cut into `parts` contiguous,
// near-equal ranges in order (the sizes differ by at most one; products in
// 64 bits, so n * parts may exceed int). Split a count of register tiles,
// not of rows, and scale by the tile height: every element then stays on
// the same code path for any number of parts (gemm_threaded).
inline index_range partition(int n, int part, int parts) {
  return {int(std::int64_t(n) * part / parts), int(std::int64_t(n) * (part + 1) / parts)};
}

}  // namespace autodidact::detail
