#pragma once
// Vocabulary shared by the kernels and their reference twins: transpose and
// write modes, the GEMM epilogue, the softmax mask, AdamW's options, the
// scalar GELU formulas, and the argument checks both implementations run.
//
// Conventions of every kernel:
// - Matrices are row-major raw pointers with an int leading dimension (the
//   distance in elements between the starts of two rows, >= the row length).
// - Shapes are int; flat arrays (optimizer state, elementwise maps) use
//   std::ptrdiff_t lengths.
// - T is float or double; a twin in kernels::reference has the same
//   signature and is what the tests compare against.

#include <cmath>        // for std::erf, std::tanh, std::exp, std::sqrt
#include <concepts>     // for std::same_as
#include <cstddef>      // for std::ptrdiff_t
#include <cstdint>      // for std::int32_t

#include "autodidact/config.hpp"          // for autodidact::gelu_kind
#include "autodidact/core/error.hpp"      // for autodidact::require, invalid_argument
#include "autodidact/core/threading.hpp"  // for detail::parallel_for, *_parallel_elements

namespace autodidact::kernels {

namespace detail {

// The loop splitter and the thresholds of core/threading.hpp, under the
// names kernels, layers and models call them by.
using autodidact::detail::parallel_for;
using autodidact::detail::rowwise_parallel_elements;
using autodidact::detail::streaming_parallel_elements;

}  // namespace detail

// Element types the kernels are written for.
template <class T>
concept kernel_scalar = std::same_as<T, float> || std::same_as<T, double>;

// Whether a GEMM operand is used as stored (no) or transposed (yes).
enum class transpose { no, yes };

// Whether a kernel overwrites its output or adds to it.
enum class write_mode { overwrite, accumulate };

// Activation applied in the GEMM epilogue.
enum class activation { none, gelu_erf, gelu_tanh };

constexpr activation to_activation(gelu_kind kind) {
  return kind == gelu_kind::erf ? activation::gelu_erf : activation::gelu_tanh;
}

// Work done on C = alpha * op(A) op(B) after the product, in the overwrite
// case only, in this order (per row i, column j):
//   z = C[i,j] + bias[j]              (if bias)
//   pre_activation[i*ldc + j] = z     (if pre_activation)
//   C[i,j] = act(z)                   (act = none leaves z)
//   C[i,j] += residual[i*ldr + j]     (if residual)
// Each C element is finished in one step (its residual is read before it is
// written), so residual may be C itself (ldr == ldc) for an in-place
// residual add. pre_activation must not overlap C.
template <class T>
struct gemm_epilogue {
  const T* bias = nullptr;       // [N]
  activation act = activation::none;
  T* pre_activation = nullptr;   // [M,N] with leading dimension ldc, or null
  const T* residual = nullptr;   // [M,N] with leading dimension ldr, or null
  int ldr = 0;                   // leading dimension of residual
  bool empty() const {
    return bias == nullptr && act == activation::none && pre_activation == nullptr &&
           residual == nullptr;
  }
};

// Which keys row i of a [rows, cols] score block may attend to: columns
// j < valid_cols and, if causal, j <= i + row_offset. The allowed set of a
// row is therefore a prefix [0, limit(i)) of its columns.
struct softmax_mask {
  int valid_cols = 0;   // keys that are not padding (<= cols)
  bool causal = false;  // a decoder's mask
  int row_offset = 0;   // position of row 0 among the keys (KV cache: past length)

  // Number of allowed columns of row i, in [0, cols].
  constexpr int limit(int i, int cols) const {
    long long l = valid_cols < cols ? valid_cols : cols;
    if (causal) {
      const long long c = static_cast<long long>(i) + row_offset + 1;
      if (c < l) l = c;
    }
    return l < 0 ? 0 : static_cast<int>(l);
  }
};

// torch.optim.AdamW's hyper-parameters (same defaults).
struct adamw_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// The label that marks a row without a target (PyTorch's ignore_index).
inline constexpr std::int32_t default_ignore_index = -100;

// Rows per chunk of a deterministic reduction (global_norm).
inline constexpr std::ptrdiff_t reduction_chunk = 4096;

namespace detail {

// GELU constants and scalar formulas (shared by kernels and twins).
template <class T> inline constexpr T inv_sqrt2 = T(0.70710678118654752440084436210484903928);
template <class T> inline constexpr T inv_sqrt_2pi = T(0.39894228040143267793994605993438186848);
template <class T> inline constexpr T sqrt_2_over_pi = T(0.79788456080286535587989211986876373695);
template <class T> inline constexpr T gelu_tanh_c = T(0.044715);

// 0.5 x (1 + erf(x / sqrt 2))
template <class T>
inline T gelu_erf(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * inv_sqrt2<T>));
}
// d/dx: 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2/2) / sqrt(2 pi)
template <class T>
inline T gelu_erf_grad(T x) {
  return T(0.5) * (T(1) + std::erf(x * inv_sqrt2<T>)) + x * std::exp(T(-0.5) * x * x) * inv_sqrt_2pi<T>;
}
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <class T>
inline T gelu_tanh(T x) {
  const T u = sqrt_2_over_pi<T> * (x + gelu_tanh_c<T> * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(u));
}
// d/dx: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
template <class T>
inline T gelu_tanh_grad(T x) {
  const T u = sqrt_2_over_pi<T> * (x + gelu_tanh_c<T> * x * x * x);
  const T t = std::tanh(u);
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * sqrt_2_over_pi<T> * (T(1) + T(3) * gelu_tanh_c<T> * x * x);
}
template <class T>
inline T apply_activation(activation act, T x) {
  switch (act) {
    case activation::gelu_erf: return gelu_erf(x);
    case activation::gelu_tanh: return gelu_tanh(x);
    default: return x;
  }
}

// ---- argument checks (run by kernels and twins alike) ----------------------

inline void check_gemm(transpose ta, transpose tb, int m, int n, int k, int lda, int ldb,
                       int ldc, write_mode mode, bool epilogue_empty, bool has_residual,
                       int ldr) {
  require(m >= 0 && n >= 0 && k >= 0, "gemm: sizes must not be negative (M = ", m, ", N = ", n,
          ", K = ", k, ")");
  const int a_cols = ta == transpose::no ? k : m;
  const int b_cols = tb == transpose::no ? n : k;
  require(lda >= (a_cols > 1 ? a_cols : 1), "gemm: lda = ", lda, " is smaller than the ",
          a_cols, " columns of A as stored");
  require(ldb >= (b_cols > 1 ? b_cols : 1), "gemm: ldb = ", ldb, " is smaller than the ",
          b_cols, " columns of B as stored");
  require(ldc >= (n > 1 ? n : 1), "gemm: ldc = ", ldc, " is smaller than N = ", n);
  require(mode == write_mode::overwrite || epilogue_empty,
          "gemm: an epilogue is only applied in write_mode::overwrite");
  require(!has_residual || ldr >= (n > 1 ? n : 1), "gemm: epilogue.ldr = ", ldr,
          " is smaller than N = ", n);
}

inline void check_rows(const char* kernel, int rows, int cols) {
  require(rows >= 0 && cols >= 0, kernel, ": sizes must not be negative (rows = ", rows,
          ", cols = ", cols, ")");
}

inline void check_ld(const char* kernel, const char* name, int ld, int cols) {
  require(ld >= (cols > 1 ? cols : 1), kernel, ": ", name, " = ", ld,
          " is smaller than the row length ", cols);
}

inline void check_targets(int rows, int v, const std::int32_t* targets, std::int32_t ignore_index) {
  for (int r = 0; r < rows; ++r) {
    const std::int32_t t = targets[r];
    require(t == ignore_index || (t >= 0 && t < v), "cross_entropy: target id ", t, " at row ", r,
            " is outside the vocabulary [0, V) with V = ", v, " and is not the ignore index ",
            ignore_index);
  }
}

inline void check_ids(const char* kernel, int n, const std::int32_t* ids, int table_rows) {
  for (int i = 0; i < n; ++i) {
    const std::int32_t id = ids[i];
    require(id >= 0 && id < table_rows, kernel, ": id ", id, " at position ", i,
            " is outside the table of ", table_rows, " rows");
  }
}

}  // namespace detail
}  // namespace autodidact::kernels
