#pragma once
// GEMM cache blocking (part of kernels/gemm.hpp; include that header): the
// register tile (MR x NR), the K slice (KC), the row and column blocks (MC,
// NC) of the packed path, and the per-thread packing buffers they size.
// The loops that use them are in kernels/gemm/driver.hpp.
//
// Preconditions: T is float or double. The AUTODIDACT_GEMM_* macros, when
// defined (tuning experiments only), replace the defaults below.

#include <cstddef>  // for std::size_t
#include <cstdint>  // for std::uintptr_t
#include <memory>   // for std::unique_ptr (per-thread packing buffers)

#include "autodidact/simd/simd.hpp"  // for simd::width, simd::vectorized

namespace autodidact::kernels {

namespace detail {

template <class T>
struct gemm_blocking {
  static constexpr int w = simd::width<T>;
  static constexpr int vector_bytes = w * int(sizeof(T));
  // Register tile: MR rows x NV vectors. 8 x 3 zmm (24 accumulators of 32
  // registers) with AVX-512, 4 x 3 (12 of 16) with AVX2/SSE, 4 x 4 scalar.
  // With 16 registers, 4 x 3 loads 7 values per 12 FMAs (4 broadcasts of
  // A, 3 vectors of B) where the former 6 x 2 loaded 8: on AVX2 code
  // (-march=haswell, the Intel Xeon of docs/performance.md, paired
  // in-process A/B) one layer's products ran 7-16 % faster and an MLM step
  // 7 % faster, same bits (the tile shape does not change any element's
  // order of operations). 3 x 4 needs 17 registers and spilled.
#ifdef AUTODIDACT_GEMM_MR
  static constexpr int mr = AUTODIDACT_GEMM_MR, nv = AUTODIDACT_GEMM_NV;
#else
  static constexpr int mr = !simd::vectorized ? 4 : vector_bytes >= 64 ? 8 : 4;
  static constexpr int nv = !simd::vectorized ? 4 : 3;
#endif
  static constexpr int nr = nv * w;
  // K slice: an A panel (MR x KC) stays in L1 (8 x 384 floats = 12 KB).
#ifdef AUTODIDACT_GEMM_KC_BYTES
  static constexpr int kc = AUTODIDACT_GEMM_KC_BYTES / int(sizeof(T));
#else
  static constexpr int kc = 1536 / int(sizeof(T));
#endif
  // Rows per packed A block (a multiple of MR).
#ifdef AUTODIDACT_GEMM_MC
  static constexpr int mc = mr * (AUTODIDACT_GEMM_MC / mr > 0 ? AUTODIDACT_GEMM_MC / mr : 1);
#else
  static constexpr int mc = mr * (96 / mr > 0 ? 96 / mr : 1);
#endif
  // Columns per packed B block (a multiple of NR): KC x NC about 1 MB, in L2.
  static constexpr int nc_target = (1 << 20) / (kc * int(sizeof(T)));
  static constexpr int nc = nr * (nc_target / nr > 0 ? nc_target / nr : 1);
};

// op(A) = Aᵀ blocks are packed (driver.hpp, gemm_packed_range) only while a
// row of A spans at most this many bytes; past it, A is read in place.
// Measured for the former on-the-fly packing (each panel by its first
// tile) on the six dW shapes of benchmarks/compare/gemm (commit a860438,
// the 2-core Intel Xeon VM with AVX-512, docs/performance.md): 1-4 % faster
// up to 64 KB, 5 % slower past it (a 50304-row dW: each step a new page);
// the whole-block packing that replaced it keeps the same limit, untested
// past it.
inline constexpr std::size_t gemm_pack_at_max_stride = 65536;

// Per-thread packing buffers, allocated once (fixed size bounded by the
// blocking), so a training step after the first allocates nothing.
template <class T>
struct gemm_buffers {
  using blk = gemm_blocking<T>;
  static constexpr std::size_t a_size = std::size_t(blk::mc) * blk::kc;
  static constexpr std::size_t b_size = std::size_t(blk::nc) * blk::kc;
  static constexpr std::size_t align = 64 / sizeof(T);
  std::unique_ptr<T[]> storage;
  T* a = nullptr;
  T* b = nullptr;
  static gemm_buffers& get() {
    thread_local gemm_buffers buf;
    if (!buf.storage) {
      buf.storage.reset(new T[a_size + b_size + 2 * align]);
      T* p = buf.storage.get();
      p += (align - (reinterpret_cast<std::uintptr_t>(p) / sizeof(T)) % align) % align;
      buf.a = p;
      buf.b = p + a_size + align;
      buf.b += (align - (reinterpret_cast<std::uintptr_t>(buf.b) / sizeof(T)) % align) % align;
    }
    return buf;
  }
};

}  // namespace detail

}  // namespace autodidact::kernels
