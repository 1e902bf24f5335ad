#pragma once
// decoder<Config, Precision>: the GPT-2 family. Pre-LN causal blocks over
// token + position embeddings, a final LayerNorm, and an LM head tied to the
// token embedding (or its own [V, C] matrix when the config unties it):
//   logits[N, V] = LN_f(h) Eᵀ
// The causal-LM loss is HF's: position t predicts label t+1 (labels shifted
// inside), mean over labels that are not -100.
// PyTorch: transformers.GPT2LMHeadModel.
//
//   decoder<gpt2_small, f32> model(/*max_batch=*/4, /*max_seq=*/64);
//   model.forward({ids, {}, lengths, B, T});
//   T loss = model.clm_loss(labels);   // labels [B, T], usually = ids
//   model.backward();
//
// Each call also takes a workspace first (workspace.hpp), and is then const
// on the model: threads share one model, each with its own workspace.

#include <algorithm>  // for std::copy_n
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span
#include <utility>  // for std::as_const

#include "autodidact/kernels/cross_entropy.hpp"  // for cross_entropy_forward, cross_entropy_backward
#include "autodidact/heads/lm.hpp"              // for heads::lm_head, linear_logits_forward
#include "autodidact/models/detail/body.hpp"     // for detail::body, batch_input

namespace autodidact::models {

template <model_config C, precision_policy P, training_policy Policy = full_training,
          arena_storage_policy Storage = heap_arenas>
class decoder : public detail::body<C, P, Policy, Storage> {
  static_assert(C.attention == attention_kind::causal,
                "autodidact: decoder<> is the GPT-2 family and needs attention = attention_kind::causal "
                "(use encoder<> for bidirectional models).");
  static_assert(!C.factorised_embeddings() || !C.tied_lm_head,
                "autodidact: a decoder<> with factorised embeddings (embedding_size != d_model) needs an untied LM "
                "head (tied_lm_head = false): the token embedding is embedding_size wide, the blocks d_model.");
  using base = detail::body<C, P, Policy, Storage>;
  using base::ws_;

 public:
  using T = typename base::T;
  using typename base::workspace_type;
  using base::layout;

  // The constructors of the storage policy (models/storage.hpp; body.hpp):
  //   decoder(max_batch, max_seq, init = {})           heap_arenas (the default)
  //   decoder(memory, max_batch, max_seq, init = {})   borrowed_arenas
  //   decoder(init = {})                               static_arenas<B, T>
  using base::base;

  // Every call below comes in two forms: with a workspace (workspace.hpp;
  // const on the model, so threads can share one model, each with its own
  // workspace) and without (the model's own workspace).

  // Runs the body (with its final LayerNorm); hidden() is LN_f(h) [B, T, C]
  // (HF's last hidden state).
  void forward(workspace_type& w, const batch_input& in) const { this->body_forward(w, in); }
  // Through a non-const model, the packed weights are refreshed first.
  void forward(workspace_type& w, const batch_input& in) {
    this->refresh_packed_if_stale();
    std::as_const(*this).forward(w, in);
  }
  void forward(const batch_input& in) { forward(ws_, in); }

  // The LM head's logits [B·T, V] = LN_f(h) Wᵀ of the last forward
  // (heads/lm.hpp), computed on first use after each forward.
  tensor_view<const T, 2> logits(workspace_type& w) const requires(Policy.pretraining_heads) {
    this->require_forward(w, "logits");
    const int n = w.batch() * w.seq();
    auto& state = w.template head<lm>();
    if (!state.logits_valid) {
      heads::linear_logits_forward(head_params(), n, this->top(w), lm_cache(w));
      state.logits_valid = true;
    }
    return {lm_cache(w).logits, {n, C.vocab}};
  }
  tensor_view<const T, 2> logits() requires(Policy.pretraining_heads) { return logits(ws_); }

  // Mean cross-entropy of predicting labels[b, t+1] from position t.
  T clm_loss(workspace_type& w, std::span<const std::int32_t> labels) const requires(Policy.pretraining_heads) {
    this->require_forward(w, "clm_loss");
    const int b = w.batch(), t = w.seq(), n = b * t;
    require(labels.size() == static_cast<std::size_t>(n), "clm_loss: labels holds ", labels.size(),
            " labels, expected batch x seq = ", n);
    this->begin_loss(w, "clm_loss");
    std::int32_t* targets = w.token_targets();
    for (int i = 0; i < b; ++i) {
      for (int j = 0; j < t; ++j) {
        targets[i * t + j] =
            j + 1 < t ? labels[static_cast<std::size_t>(i * t + j + 1)] : kernels::default_ignore_index;
      }
    }
    auto& state = w.template head<lm>();
    state.count = kernels::cross_entropy_forward(n, C.vocab, logits(w).data(), C.vocab, targets, w.losses_.data());
    T s = 0;
    for (int i = 0; i < n; ++i) s += w.losses_.data()[i];
    state.loss = state.count > 0 ? s / T(state.count) : T(0);
    return state.loss;
  }
  T clm_loss(std::span<const std::int32_t> labels) requires(Policy.pretraining_heads) {
    return clm_loss(ws_, labels);
  }

  // Backward of clm_loss: accumulates every trainable gradient into the
  // workspace's.
  void backward(workspace_type& w) const requires(Policy.pretraining_heads) {
    this->require_loss(w, "backward", "clm_loss()");
    const int n = w.batch() * w.seq();
    T* d_final = this->begin_backward(w);
    auto& state = w.template head<lm>();
    if (state.count > 0) {
      const auto k = lm_cache(w);  // dlogits in place of the logits
      kernels::cross_entropy_backward(n, C.vocab, k.logits, C.vocab, w.token_targets(), T(1) / T(state.count),
                                      k.logits, C.vocab);
      const auto head = head_at(w);
      heads::linear_logits_backward(head.params(), head.grads(), n, this->top(w), k, d_final);
    }
    state.logits_valid = false;
    backward_from_final(w, d_final);
  }
  void backward() requires(Policy.pretraining_heads) { backward(ws_); }

  // For task heads: begin_backward() returns a zeroed d hidden() [N, C]
  // to add into; backward_from_final() propagates it through the final
  // LayerNorm and the body.
  void backward_from_final(workspace_type& w, const T* d_final) const {
    this->require_unconsumed_forward(w, "backward_from_final");
    T* d = this->top_gradient(w);
    if (d_final != d) std::copy_n(d_final, std::ptrdiff_t(w.batch()) * w.seq() * C.d_model, d);
    this->body_backward(w);
    this->mark_backward_done(w);
  }
  void backward_from_final(const T* d_final) { backward_from_final(ws_, d_final); }

  // The layers' parameters, for the incremental (KV-cache) forward of
  // inference/cached_forward.hpp: views into the arena, each with its packed
  // copy when pack_weights() made one and it is fresh. Reading them changes
  // nothing; forward() does not use them.
  layers::block_params<T> block_parameters(int l) const { return this->block_at(l).params(this->packed_of(l)); }
  layers::embedding_params<T> embedding_parameters() const { return this->embedding_at().params(); }
  layers::layernorm_params<T> final_norm_parameters() const { return this->final_norm_at().params(); }
  // The LM head: logits = x Wᵀ (W the token embedding when tied).
  layers::linear_params<T> lm_head_parameters() const { return head_params(); }

  // The last clm_loss.
  T loss(const workspace_type& w) const noexcept {
    if constexpr (Policy.pretraining_heads) return w.template head<lm>().loss;
    return T(0);
  }
  T loss() const noexcept { return loss(ws_); }

 private:
  using lm = heads::lm_head;
  // The LM head as a typed Linear C → V without a bias (heads/lm.hpp),
  // bound in place by linear_at (binding.hpp): to the head's own weight,
  // or, tied, to the token embedding [V, C] — a view; the embedding's
  // gradient is then the head's.
  using lm_head_type = typename lm::template layer_type<C, P>;
  static constexpr std::size_t head_weight_offset() {
    return C.tied_lm_head ? layout.embeddings[embeddings_module::token] : layout.template head<lm>()[lm::weight];
  }
  static constexpr bool head_laid_out_as_typed_layer() {
    if constexpr (C.tied_lm_head)
      return base::template laid_out_as<lm_head_type>(layout.embeddings, embeddings_module::token, 1);
    if constexpr (!C.tied_lm_head && base::layout_type::template has_head<lm>)
      return base::template laid_out_as<lm_head_type>(layout.template head<lm>(), lm::weight, lm::count);
    return true;
  }
  static_assert(head_laid_out_as_typed_layer(),
                "autodidact: the memory plan must lay the LM head's weight (the token embedding when tied) out "
                "as a bias-free typed Linear's table does.");
  lm_head_type head_at() const { return this->template linear_at<lm_head_type>(head_weight_offset()); }
  lm_head_type head_at(workspace_type& w) const {
    return this->template linear_at<lm_head_type>(w, head_weight_offset());
  }
  layers::linear_params<T> head_params() const {
    return head_at().params(this->linear_packed_at(head_weight_offset()));
  }
  static typename lm::template cache_type<T> lm_cache(const workspace_type& w) {
    return lm::cache(base::template head_workspace<lm>(w), C, w.batch() * w.seq(), w.batch());
  }
};

}  // namespace autodidact::models
