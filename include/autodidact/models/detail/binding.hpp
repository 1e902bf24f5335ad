#pragma once
// The binding of a model's layers to its memory: the parameter arena (laid
// out by the memory plan, models/memory_plan.hpp) and its packed copy
// (packed_weights.hpp), and the views every layer call is given — its
// parameters at their offsets in the arena (from the modules' tables,
// models/module_spec.hpp: `layout.blocks[l][block_module::qkv_weight]`),
// its gradients in a workspace's gradient arena (null when frozen), its
// cache and scratch in a workspace's activation arena, its dropout sites.
// Helpers that read only weights are const members; those that touch
// activations or gradients are static and take the workspace.
//
// The Transformer blocks, the embeddings and the LayerNorms are typed
// layers (layers/typed/): block_at(l) is a layers::block<C, H, F, P,
// block_options_of(config)> bound to block l's range of the parameter
// arena (and of a workspace's gradient arena), whose table lays it out
// exactly as the model's layout does (checked below); packed_of(l) gives it
// the packed copies. embedding_at(), embedding_norm_at() and
// final_norm_at() bind layers::embedding and layers::layernorm the same way,
// and linear_at<L>(weight) a layers::linear (the pooler, the factorised
// embedding projection, the heads' Linears: encoder.hpp and decoder.hpp
// check their heads' entries with laid_out_as), with linear_packed_at for
// its packed copy.

#include <algorithm>    // for std::max
#include <concepts>     // for std::same_as
#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::uint32_t
#include <span>         // for std::span
#include <type_traits>  // for std::conditional_t

#include "autodidact/config.hpp"                        // for model_config, check_config
#include "autodidact/core/arena.hpp"                    // for arena, borrowed_storage, static_storage
#include "autodidact/layers/attention.hpp"              // for attention_shape
#include "autodidact/layers/block.hpp"                  // for block_params, block_grads, block_cache, block_scratch
#include "autodidact/layers/dropout.hpp"                // for dropout_site, block_dropout
#include "autodidact/layers/embedding.hpp"              // for embedding_params, embedding_input
#include "autodidact/layers/layernorm.hpp"              // for layernorm_params, layernorm_grads
#include "autodidact/layers/linear.hpp"                 // for linear_params, linear_grads
#include "autodidact/layers/typed/block.hpp"            // for layers::block, block_packed, block_options_of
#include "autodidact/layers/typed/embedding.hpp"        // for layers::embedding
#include "autodidact/layers/typed/layernorm.hpp"        // for layers::layernorm
#include "autodidact/layers/typed/linear.hpp"           // for layers::linear, linear_packed
#include "autodidact/models/detail/packed_weights.hpp"  // for packed_weights
#include "autodidact/models/memory_plan.hpp"            // for memory_plan, block_activations
#include "autodidact/models/module_spec.hpp"            // for module_offsets, npos
#include "autodidact/models/storage.hpp"                // for heap_arenas, borrowed_arenas, static_arenas
#include "autodidact/models/workspace.hpp"              // for workspace
#include "autodidact/precision.hpp"                     // for precision_policy, plain_precision

namespace autodidact::models::detail {

template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class binding {
  static_assert(check_config<C>());
  static_assert(plain_precision<P>,
                "autodidact: models run in f32 or f64 so far; bf16w and int8w weight storage is not supported by "
                "encoder<> and decoder<> yet.");

 public:
  using value_type = typename P::compute_type;
  using T = value_type;
  using plan = memory_plan<C, P, Policy>;
  static constexpr model_config config = C;
  static constexpr training_policy policy = Policy;
  using layout_type = typename plan::layout_type;
  static constexpr layout_type layout = plan::parameters;
  using heads_type = typename layout_type::heads_type;
  // Everything a pass writes (workspace.hpp): one per thread that runs
  // this model.
  using workspace_type = workspace<C, P, Policy, Storage>;
  using storage_policy = Storage;
  static constexpr int E = C.embedding_width();  // the embeddings' width
  // A Transformer block of this model: the typed layer, bound by block_at(l).
  using block_type = layers::block<C.d_model, C.heads, C.d_ff, P, layers::block_options_of(C)>;
  // The embeddings (token, position, segment tables), their LayerNorm (when
  // the config has one) and the final LayerNorm (idem), as typed layers.
  using embedding_type = layers::embedding<C.vocab, C.max_positions, E, P, C.type_vocab>;
  using embedding_norm_type = layers::layernorm<E, P, C.layer_norm_eps>;
  using final_norm_type = layers::layernorm<C.d_model, P, C.layer_norm_eps>;
  // A Linear of this model (layers/typed/linear.hpp), over the config's
  // compile-time widths: the pooler (configs with one) and the factorised
  // embeddings' projection E → C (configs with embedding_size != d_model)
  // are these, bound by pooler_at() and embedding_projection_at().
  template <int In, int Out, bool Bias = true>
  using linear_type = layers::linear<In, Out, P, Bias>;
  using pooler_type = linear_type<C.d_model, C.d_model>;
  using embedding_projection_type = linear_type<E, C.d_model>;

  // The parameter arena, laid out as memory_plan says. Mutable access
  // marks the packed weights (pack_weights) out of date.
  std::span<T> parameters() noexcept {
    packed_.mark_stale();
    return params_.span();
  }
  std::span<const T> parameters() const noexcept { return params_.span(); }
  std::span<T> trainable_parameters() noexcept {
    packed_.mark_stale();
    return params_.span().subspan(plan::first_trainable);
  }
  std::span<const T> trainable_parameters() const noexcept {
    return params_.span().subspan(plan::first_trainable);
  }
  T* parameter_at(std::size_t offset) noexcept {
    packed_.mark_stale();
    return params_.data() + offset;
  }
  const T* parameter_at(std::size_t offset) const noexcept { return params_.data() + offset; }

 protected:
  // The parameter arena under the storage policy (models/storage.hpp).
  using parameter_arena = std::conditional_t<
      std::same_as<Storage, heap_arenas>, arena<T>,
      std::conditional_t<std::same_as<Storage, borrowed_arenas>, arena<T, borrowed_storage<T>>,
                         arena<T, static_storage<T, plan::parameter_elements>>>>;

  // Allocates the parameter arena (zero), or holds it inside the object.
  binding() requires(!std::same_as<Storage, borrowed_arenas>) : params_(make_parameters()) {}
  // borrowed_arenas: the parameter arena in `memory` (a checked block).
  explicit binding(std::span<T> memory) requires std::same_as<Storage, borrowed_arenas>
      : params_(borrowed_storage<T>(memory, plan::parameter_elements)) {
    params_.zero();
  }

  static parameter_arena make_parameters() {
    if constexpr (std::same_as<Storage, heap_arenas>) {
      return parameter_arena(plan::parameter_elements, "model: the parameter arena");
    } else {
      return parameter_arena();  // zeroed by initialize()
    }
  }

  // Head H's workspace (its workspace_elements) for the current batch.
  template <class H>
  static T* head_workspace(const workspace_type& w) {
    return const_cast<T*>(w.act(w.al_.heads[layout_type::template head_index<H>]));
  }

  // hidden_state(index): 0 is the blocks' input (the embeddings, after
  // their LayerNorm, projected when factorised).
  static const T* hidden_ptr(const workspace_type& w, int index) {
    if (index == 0) return C.factorised_embeddings() ? w.act(w.al_.embedding_projected) : embedding_output(w);
    return block_cache_of(w, index - 1).output(C.norm);
  }
  // The embeddings' output [N, E]: after their LayerNorm when there is one.
  static const T* embedding_output(const workspace_type& w) {
    return w.act(C.embedding_norm ? w.al_.embedding_ln : w.al_.embeddings);
  }

  static layers::block_cache<T> block_cache_of(const workspace_type& w, int l) {
    const block_activations& o = w.al_.block;
    T* base = const_cast<T*>(w.act(w.al_.blocks + static_cast<std::size_t>(l % w.al_.block_slots) * o.size));
    layers::block_cache<T> c;
    c.ln1 = base + o.ln1;
    c.ln1_mean = base + o.ln1_mean;
    c.ln1_rstd = base + o.ln1_rstd;
    c.attention = {base + o.qkv, base + o.probs, base + o.context};
    c.residual1 = base + o.residual1;
    c.ln2 = base + o.ln2;
    c.ln2_mean = base + o.ln2_mean;
    c.ln2_rstd = base + o.ln2_rstd;
    // Inference keeps no GELU input (only backward reads it).
    c.ff = {Policy.trainable ? base + o.ff_pre : nullptr, base + o.ff_act};
    c.residual2 = base + o.residual2;
    return c;
  }

  static T* gradient_at(workspace_type& w, std::size_t offset) noexcept {
    if (offset == npos || offset < plan::first_trainable) return nullptr;
    return w.grads_.data() + (offset - plan::first_trainable);
  }
  // The typed Linear L whose weight is at offset `weight` of the parameter
  // arena, its bias (if L has one) where L's table puts it — a module whose
  // entries laid_out_as<L> accepts — bound to the parameters (and to w's
  // gradients). Forward takes linear_packed_at(weight), its packed copy.
  template <class L>
  L linear_at(std::size_t weight) const {
    return bound_at<L>(weight);
  }
  template <class L>
  L linear_at(workspace_type& w, std::size_t weight) const {
    return bound_at<L>(w, weight);
  }
  layers::linear_packed<T> linear_packed_at(std::size_t weight) const { return {packed_for(weight)}; }
  // The packed copy of the matrix at `weight`, or null (not packing, not
  // packed, or out of date: forward then packs on the fly, still correct).
  const T* packed_for(std::size_t weight) const noexcept { return packed_.for_weight(weight); }

  // A typed layer L bound at offset `begin` of the parameter arena, without
  // gradients (forward, or frozen). Forward only reads the parameters; the
  // typed layer's views are mutable.
  template <class L>
  L bound_at(std::size_t begin) const {
    return L(std::span<T>(const_cast<T*>(params_.data()) + begin, L::parameter_elements), std::span<T>());
  }
  // The same, with its gradients at the same place of w's gradient arena
  // (none when the training policy freezes it).
  template <class L>
  L bound_at(workspace_type& w, std::size_t begin) const {
    std::span<T> g;
    if (Policy.trainable && begin >= plan::first_trainable)
      g = std::span<T>(w.grads_.data() + (begin - plan::first_trainable), L::parameter_elements);
    return L(std::span<T>(const_cast<T*>(params_.data()) + begin, L::parameter_elements), g);
  }

  // The layout places every module as its typed layer's table does, so the
  // typed layers can view the arenas in place.
  template <class L, class M>
  static constexpr bool laid_out_as(const module_offsets<M>& m, std::size_t first, std::size_t count) {
    const std::size_t begin = m[first];
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t want = L::plan.offsets[i] == npos ? npos : begin + L::plan.offsets[i];
      if (m[first + i] != want) return false;
    }
    return begin + L::parameter_elements <= m.end;
  }
  static constexpr bool laid_out_as_typed_layers() {
    for (int l = 0; l < C.layers; ++l)
      if (!laid_out_as<block_type>(layout.blocks[static_cast<std::size_t>(l)], 0, block_module::count)) return false;
    if (!laid_out_as<embedding_type>(layout.embeddings, embeddings_module::token, embeddings_module::norm_gain))
      return false;  // the tables (the typed layer has no LayerNorm entries)
    if constexpr (C.embedding_norm)
      if (!laid_out_as<embedding_norm_type>(layout.embeddings, embeddings_module::norm_gain, 2)) return false;
    if constexpr (C.final_norm)
      if (!laid_out_as<final_norm_type>(layout.final_norm, final_norm_module::gain, 2)) return false;
    if constexpr (C.factorised_embeddings())
      if (!laid_out_as<embedding_projection_type>(layout.embedding_projection, 0, embedding_projection_module::count))
        return false;
    if constexpr (C.pooler)
      if (!laid_out_as<pooler_type>(layout.pooler, pooler_module::weight, pooler_module::count)) return false;
    return true;
  }
  static_assert(laid_out_as_typed_layers(),
                "autodidact: the memory plan must lay blocks, embeddings, LayerNorms, the embedding projection "
                "and the pooler out as their typed layers' tables do.");

  // Block l, bound to its parameters (and to w's gradients).
  block_type block_at(int l) const { return bound_at<block_type>(layout.blocks[static_cast<std::size_t>(l)].begin); }
  block_type block_at(workspace_type& w, int l) const {
    return bound_at<block_type>(w, layout.blocks[static_cast<std::size_t>(l)].begin);
  }
  // Block l's packed matrices (null where not packed or out of date).
  layers::block_packed<T> packed_of(int l) const {
    using bm = block_module;
    const module_offsets<bm>& b = layout.blocks[static_cast<std::size_t>(l)];
    return {packed_for(b[bm::qkv_weight]), packed_for(b[bm::proj_weight]), packed_for(b[bm::ff1_weight]),
            packed_for(b[bm::ff2_weight])};
  }
  static layers::block_scratch<T> scratch(workspace_type& w) {
    const auto& a = w.al_;
    return {w.act(a.scratch_c0),    w.act(a.scratch_c1),    w.act(a.scratch_c2),
            w.act(a.scratch_c3),    w.act(a.scratch_qkv),   w.act(a.scratch_f),
            w.act(a.scratch_probs), w.act(a.scratch_small), w.act(a.scratch_small) + std::max(C.d_model, E)};
  }

  // The embedding tables, bound to their parameters (and to w's gradients).
  embedding_type embedding_at() const { return bound_at<embedding_type>(layout.embeddings[embeddings_module::token]); }
  embedding_type embedding_at(workspace_type& w) const {
    return bound_at<embedding_type>(w, layout.embeddings[embeddings_module::token]);
  }
  // The embeddings' LayerNorm (post-LN configs), bound likewise.
  embedding_norm_type embedding_norm_at() const {
    return bound_at<embedding_norm_type>(layout.embeddings[embeddings_module::norm_gain]);
  }
  embedding_norm_type embedding_norm_at(workspace_type& w) const {
    return bound_at<embedding_norm_type>(w, layout.embeddings[embeddings_module::norm_gain]);
  }
  // Factorised embeddings' Linear(E → C), bound likewise, and its packed weight.
  static constexpr std::size_t projection_weight = layout.embedding_projection[embedding_projection_module::weight];
  embedding_projection_type embedding_projection_at() const {
    return linear_at<embedding_projection_type>(projection_weight);
  }
  embedding_projection_type embedding_projection_at(workspace_type& w) const {
    return linear_at<embedding_projection_type>(w, projection_weight);
  }
  layers::linear_packed<T> embedding_projection_packed() const { return linear_packed_at(projection_weight); }
  static layers::embedding_input embedding_input(const workspace_type& w) {
    return {w.ids(), w.positions(), C.type_vocab > 0 ? w.segments() : nullptr, w.batch_ * w.seq_};
  }

  static layers::dropout_site dropout_site_for(const workspace_type& w, std::uint32_t site, float rate) {
    // An inference-only model never drops (its plan has no room for the
    // attention probabilities dropout needs).
    if (!Policy.trainable || !w.training_ || rate <= 0.0f) return {};
    return {&w.rng_, w.step_, site, rate};
  }
  static layers::block_dropout block_dropout_of(const workspace_type& w, int l) {
    const std::uint32_t base = 16u + 4u * static_cast<std::uint32_t>(l);
    return {dropout_site_for(w, base, w.dropout_.attention), dropout_site_for(w, base + 1, w.dropout_.hidden),
            dropout_site_for(w, base + 2, w.dropout_.hidden)};
  }
  static layers::attention_shape shape(const workspace_type& w) { return {w.batch_, w.seq_, w.lengths()}; }

  // The body's output [N, C]: the final LayerNorm's when the config has
  // one, else the last block's.
  static const T* top(const workspace_type& w) {
    if constexpr (C.final_norm) return w.act(w.al_.final_ln);
    return hidden_ptr(w, C.layers);
  }
  // The final LayerNorm (configs with one), bound likewise.
  final_norm_type final_norm_at() const { return bound_at<final_norm_type>(layout.final_norm[final_norm_module::gain]); }
  final_norm_type final_norm_at(workspace_type& w) const {
    return bound_at<final_norm_type>(w, layout.final_norm[final_norm_module::gain]);
  }

  // The pooler's Linear (configs with one), bound likewise, and its packed weight.
  static constexpr std::size_t pooler_weight = layout.pooler[pooler_module::weight];
  pooler_type pooler_at() const { return linear_at<pooler_type>(pooler_weight); }
  pooler_type pooler_at(workspace_type& w) const { return linear_at<pooler_type>(w, pooler_weight); }
  layers::linear_packed<T> pooler_packed() const { return linear_packed_at(pooler_weight); }

  // The gradient buffer the heads write d top() [N, C] into (with a final
  // LayerNorm, the slot its backward reads before the stack reuses it).
  static T* top_gradient(workspace_type& w) noexcept {
    return w.act(C.final_norm ? w.al_.grad_b : w.al_.grad_a);
  }

  parameter_arena params_;
  packed_weights<C, P, Policy, Storage> packed_;  // pack_weights()
};

}  // namespace autodidact::models::detail
