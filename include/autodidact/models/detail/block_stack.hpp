#pragma once
// The stack of blocks, forward and backward: the embeddings (+ their
// LayerNorm, dropout and projection), every block, and the final LayerNorm
// when the config has one. Forward runs the whole stack in one OpenMP team
// when the batch is big enough (each thread a fixed range of token rows,
// meeting around each block's attention heads); backward goes down the
// stack through two alternating gradient buffers and accumulates into the
// workspace's gradients. The blocks, the embeddings and the LayerNorms are
// typed layers (layers::block, layers::embedding, layers::layernorm, bound
// by binding.hpp's block_at, embedding_at, embedding_norm_at,
// final_norm_at): bound to the model's parameter arena and to the
// workspace's gradient arena, they run in the workspace's activation slots
// (block_cache_of, scratch) with the model's packed weights and dropout
// sites. The factorised embeddings' projection is bound by binding.hpp.

#include <algorithm>  // for std::min, std::max, std::swap
#include <cstddef>    // for std::ptrdiff_t
#include <utility>    // for std::swap

#ifdef _OPENMP
#include <omp.h>  // for omp_get_thread_num, omp_get_num_threads, omp_in_parallel
#endif

#include "autodidact/config.hpp"                          // for model_config
#include "autodidact/core/threading.hpp"                  // for detail::gemm_parallel_work
#include "autodidact/kernels/gemm.hpp"                    // for gemm_row_tile
#include "autodidact/layers/block.hpp"                    // for detail::zero
#include "autodidact/layers/dropout.hpp"                  // for dropout_apply, dropout_backward
#include "autodidact/layers/linear.hpp"                   // for linear_forward, linear_backward
#include "autodidact/models/detail/batch_validation.hpp"  // for batch_input, first_non_finite, non_finite_output
#include "autodidact/models/detail/binding.hpp"           // for binding
#include "autodidact/precision.hpp"                       // for precision_policy

namespace autodidact::models::detail {

template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class block_stack : public binding<C, P, Policy, Storage> {
  using base = binding<C, P, Policy, Storage>;

 public:
  using typename base::T;
  using typename base::workspace_type;
  using base::base;
  using base::E;
  using base::layout;

 protected:
  using stage = typename workspace_type::stage;
  using base::block_at;
  using base::block_cache_of;
  using base::block_dropout_of;
  using base::dropout_site_for;
  using base::embedding_at;
  using base::embedding_input;
  using base::embedding_norm_at;
  using base::embedding_output;
  using base::embedding_projection_at;
  using base::embedding_projection_packed;
  using base::final_norm_at;
  using base::hidden_ptr;
  using base::packed_of;
  using base::scratch;
  using base::shape;

  static void notify_hidden_gradient(const workspace_type& w, int index, const T* gradient) {
    if (w.grad_observer_) w.grad_observer_(w.grad_observer_context_, index, gradient);
  }

  // Embeddings (+ embedding LayerNorm for post-LN), all blocks, and the
  // final LayerNorm when the config has one.
  void body_forward(workspace_type& w, const batch_input& in) const {
    stack_forward(w, in);
    if constexpr (C.final_norm) {
      final_norm_at().forward({w.act(w.al_.final_mean), w.act(w.al_.final_rstd)}, w.batch_ * w.seq_,
                              hidden_ptr(w, C.layers), w.act(w.al_.final_ln));
      if (w.check_finite_) check_output(w, -1, w.act(w.al_.final_ln));
    }
  }

  // workspace::set_check_finite: raises numeric_error for the first
  // non-finite element of the [N, C] output x of layer `index`.
  static void check_output(const workspace_type& w, int index, const T* x) {
    const std::ptrdiff_t i = first_non_finite<C>(x, 0, w.batch_ * w.seq_);
    if (i >= 0) non_finite_output<C>(w.seq_, index, i, static_cast<double>(x[i]));
  }

  void stack_forward(workspace_type& w, const batch_input& in) const {
    w.accept(in);
    w.stage_ = stage::forwarded;
    const int n = w.batch_ * w.seq_;
    T* emb = w.act(w.al_.embeddings);
    embedding_at().forward(embedding_input(w), emb);
    const T* x = emb;
    if constexpr (C.embedding_norm) {
      embedding_norm_at().forward({w.act(w.al_.embedding_mean), w.act(w.al_.embedding_rstd)}, n, emb,
                                  w.act(w.al_.embedding_ln));
      x = w.act(w.al_.embedding_ln);
    }
    layers::dropout_apply(dropout_site_for(w, 1, w.dropout_.hidden), std::ptrdiff_t(n) * E, const_cast<T*>(x));
    if constexpr (C.factorised_embeddings()) {
      T* projected = w.act(w.al_.embedding_projected);
      embedding_projection_at().forward(n, x, projected, {}, embedding_projection_packed());
      x = w.act(w.al_.embedding_projected);
    }
    const bool check = w.check_finite_;
    if (check) check_output(w, 0, x);
    const int threads = team_threads(n);
    if (threads <= 1) {
      for (int l = 0; l < C.layers; ++l) {
        x = block_at(l).forward(block_cache_of(w, l), shape(w), x, block_dropout_of(w, l), packed_of(l));
        if (check) check_output(w, l + 1, x);
      }
      return;
    }
#ifdef _OPENMP
    // One team for the whole stack: each thread keeps a fixed range of
    // token rows (on the GEMM's row-tile grid, so every element is computed
    // exactly as by one thread) and the team meets only around each
    // block's attention heads. Block l's rows need only block l-1's same
    // rows, and with two alternating block slots (inference) a thread
    // writing block l+1's rows never touches rows another thread still reads.
    constexpr int mr = kernels::gemm_row_tile<T>;
    const int tiles = (n + mr - 1) / mr;
    // The output check (workspace::set_check_finite) cannot raise inside the
    // team: each thread checks its rows of each block's output and the
    // earliest block with a non-finite value (then the lowest element) is
    // kept, and raised after the team ends (inference keeps only two block
    // outputs, so the element and value are kept, not re-read).
    int bad_layer = C.layers;
    std::ptrdiff_t bad_index = -1;
    double bad_value = 0.0;
#pragma omp parallel num_threads(threads)
    {
      const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const int r0 = std::min(n, tiles * tid / nt * mr), r1 = std::min(n, tiles * (tid + 1) / nt * mr);
      const T* xl = x;
      int my_bad_layer = C.layers;
      for (int l = 0; l < C.layers; ++l) {
        const auto cache = block_cache_of(w, l);
        const auto block = block_at(l);
        const auto packed = packed_of(l);
        const auto drop = block_dropout_of(w, l);
        block.forward_before_heads(cache, r0, r1, xl, packed);
#pragma omp barrier
        block.forward_heads(cache, shape(w), drop, /*team=*/true);
        block.forward_after_heads(cache, r0, r1, xl, drop, packed);
        xl = cache.output(C.norm);
        if (check && l < my_bad_layer) {  // each thread scans until its own first finding
          const std::ptrdiff_t i = first_non_finite<C>(xl, r0, r1);
          if (i >= 0) {
            my_bad_layer = l;
#pragma omp critical(autodidact_check_finite)
            if (l < bad_layer || (l == bad_layer && i < bad_index)) {
              bad_layer = l;
              bad_index = i;
              bad_value = static_cast<double>(xl[i]);
            }
          }
        }
      }
    }
    if (bad_layer < C.layers) non_finite_output<C>(w.seq_, bad_layer + 1, bad_index, bad_value);
#endif
  }

  // Threads for the forward team: all of OpenMP's when a block's work is
  // worth splitting (the GEMM's own threshold, per layer) and there are at
  // least two row tiles per thread... else 1 (the kernels then decide alone).
  static int team_threads(int n) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
    const double work = double(n) * C.d_model * (4.0 * C.d_model + 2.0 * C.d_ff);
    if (work < autodidact::detail::gemm_parallel_work) return 1;
    constexpr int mr = kernels::gemm_row_tile<T>;
    const int tiles = (n + mr - 1) / mr;
    return std::max(1, std::min(omp_get_max_threads(), tiles / 2));
#else
    (void)n;
    return 1;
#endif
  }

  // From top_gradient() down to the embeddings: through the final
  // LayerNorm (when the config has one), then the two gradient slots
  // (grad_a, grad_b) alternate through the stack: each block reads dy and
  // accumulates dx. Gradients accumulate into the workspace's.
  void body_backward(workspace_type& w) const {
    const int n = w.batch_ * w.seq_;
    const std::ptrdiff_t nc = std::ptrdiff_t(n) * C.d_model;
    T* dy = w.act(w.al_.grad_a);
    T* dx = w.act(w.al_.grad_b);
    if constexpr (C.final_norm) {
      notify_hidden_gradient(w, C.layers + 1, dx);
      layers::detail::zero(nc, dy);
      auto sc = scratch(w);
      final_norm_at(w).backward({w.act(w.al_.final_mean), w.act(w.al_.final_rstd)}, n, hidden_ptr(w, C.layers), dx,
                                dy, sc.gain, sc.bias);
    }
    notify_hidden_gradient(w, C.layers, dy);
    for (int l = C.layers - 1; l >= 0; --l) {
      layers::detail::zero(nc, dx);
      block_at(w, l).backward(block_cache_of(w, l), scratch(w), shape(w), hidden_ptr(w, l), dy, dx,
                              block_dropout_of(w, l));
      std::swap(dx, dy);
      notify_hidden_gradient(w, l, dy);
    }
    // dy now holds d(hidden state 0); with factorised embeddings, through
    // the projection into the E-wide buffers.
    const std::ptrdiff_t ne = std::ptrdiff_t(n) * E;
    if constexpr (C.factorised_embeddings()) {
      T* d_out = w.act(w.al_.grad_embedding_a);
      layers::detail::zero(ne, d_out);
      embedding_projection_at(w).backward(n, embedding_output(w), dy, d_out);
      dy = d_out;
      dx = w.act(w.al_.grad_embedding_b);
    }
    // dy now holds d(embedding output) [N, E].
    layers::dropout_backward(dropout_site_for(w, 1, w.dropout_.hidden), ne, dy);
    T* d_emb = dy;
    if constexpr (C.embedding_norm) {
      T* d_sum = dx;
      layers::detail::zero(ne, d_sum);
      auto sc = scratch(w);
      embedding_norm_at(w).backward({w.act(w.al_.embedding_mean), w.act(w.al_.embedding_rstd)}, n,
                                    w.act(w.al_.embeddings), dy, d_sum, sc.gain, sc.bias);
      d_emb = d_sum;
    }
    embedding_at(w).backward(embedding_input(w), d_emb);
  }
};

}  // namespace autodidact::models::detail
