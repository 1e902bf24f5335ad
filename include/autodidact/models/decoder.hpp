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

#include <algorithm>  // for std::copy_n
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span
#include <vector>   // for std::vector

#include "autodidact/kernels/cross_entropy.hpp"  // for cross_entropy_forward, cross_entropy_backward
#include "autodidact/heads/lm.hpp"              // for heads::lm_head, linear_logits_forward
#include "autodidact/models/detail/body.hpp"     // for detail::body, batch_input

namespace autodidact::models {

template <model_config C, precision_policy P, training_policy Policy = full_training>
class decoder : public detail::body<C, P, Policy> {
  static_assert(C.attention == attention_kind::causal,
                "autodidact: decoder<> is the GPT-2 family and needs attention = attention_kind::causal "
                "(use encoder<> for bidirectional models).");
  using base = detail::body<C, P, Policy>;
  using base::act;
  using base::al_;

 public:
  using T = typename base::T;
  using base::layout;

  decoder(int max_batch, int max_seq, const init_options& init = {})
      : base(max_batch, max_seq, init),
        targets_(static_cast<std::size_t>(max_batch) * max_seq),
        losses_(static_cast<std::size_t>(max_batch) * max_seq) {}

  // Runs the body (with its final LayerNorm); hidden() is LN_f(h) [B, T, C]
  // (HF's last hidden state).
  void forward(const batch_input& in) {
    this->body_forward(in);
    logits_valid_ = false;  // the logits of the previous batch are gone
  }

  tensor_view<const T, 3> hidden() const {
    this->require_forward("hidden");
    return {this->top(), {this->batch_, this->seq_, C.d_model}};
  }

  // The LM head's logits [B·T, V] = LN_f(h) Wᵀ of the last forward
  // (heads/lm.hpp), computed on first use after each forward.
  tensor_view<const T, 2> logits() requires(Policy.pretraining_heads) {
    this->require_forward("logits");
    if (!logits_valid_) compute_logits();
    return {lm_cache().logits, {this->batch_ * this->seq_, C.vocab}};
  }

  // Mean cross-entropy of predicting labels[b, t+1] from position t.
  T clm_loss(std::span<const std::int32_t> labels) requires(Policy.pretraining_heads) {
    this->require_forward("clm_loss");
    const int b = this->batch_, t = this->seq_, n = b * t;
    require(labels.size() == static_cast<std::size_t>(n), "clm_loss: labels holds ", labels.size(),
            " labels, expected batch x seq = ", n);
    this->begin_loss("clm_loss");
    for (int i = 0; i < b; ++i) {
      for (int j = 0; j < t; ++j) {
        targets_[static_cast<std::size_t>(i * t + j)] =
            j + 1 < t ? labels[static_cast<std::size_t>(i * t + j + 1)] : kernels::default_ignore_index;
      }
    }
    count_ = kernels::cross_entropy_forward(n, C.vocab, logits().data(), C.vocab, targets_.data(), losses_.data());
    T s = 0;
    for (int i = 0; i < n; ++i) s += losses_[static_cast<std::size_t>(i)];
    loss_ = count_ > 0 ? s / T(count_) : T(0);
    return loss_;
  }

  // Backward of clm_loss: accumulates every trainable gradient.
  void backward() requires(Policy.pretraining_heads) {
    this->require_loss("backward", "clm_loss()");
    const int n = this->batch_ * this->seq_;
    T* d_final = begin_backward();
    if (count_ > 0) {
      const auto k = lm_cache();  // dlogits in place of the logits
      kernels::cross_entropy_backward(n, C.vocab, k.logits, C.vocab, targets_.data(), T(1) / T(count_), k.logits,
                                      C.vocab);
      heads::linear_logits_backward(head_params(), {this->gradient_at(head_weight_offset()), nullptr}, n, this->top(), k,
                         d_final);
    }
    logits_valid_ = false;
    backward_from_final(d_final);
  }

  // For task heads: begin_backward() returns a zeroed d hidden() [N, C]
  // to add into; backward_from_final() propagates it through the final
  // LayerNorm and the body.
  T* begin_backward() {
    this->require_unconsumed_forward("begin_backward");
    T* d = this->top_gradient();
    layers::detail::zero(std::ptrdiff_t(this->batch_) * this->seq_ * C.d_model, d);
    return d;
  }
  void backward_from_final(const T* d_final) {
    this->require_unconsumed_forward("backward_from_final");
    T* d = this->top_gradient();
    if (d_final != d) std::copy_n(d_final, std::ptrdiff_t(this->batch_) * this->seq_ * C.d_model, d);
    this->body_backward();
    this->mark_backward_done();
  }

  T loss() const noexcept { return loss_; }

 private:
  static constexpr std::size_t head_weight_offset() {
    return C.tied_lm_head ? layout.embeddings[embeddings_module::token]
                          : layout.template head<heads::lm_head>()[heads::lm_head::weight];
  }
  layers::linear_params<T> head_params() const {
    return {this->parameter_at(head_weight_offset()), nullptr, C.d_model, C.vocab,
            this->packed_for(head_weight_offset())};
  }
  typename heads::lm_head::template cache_type<T> lm_cache() const {
    return heads::lm_head::cache(this->template head_workspace<heads::lm_head>(), C, this->batch_ * this->seq_,
                                 this->batch_);
  }
  void compute_logits() {
    heads::linear_logits_forward(head_params(), this->batch_ * this->seq_, this->top(), lm_cache());
    logits_valid_ = true;
  }

  std::vector<std::int32_t> targets_;
  std::vector<T> losses_;
  int count_ = 0;
  T loss_ = 0;
  bool logits_valid_ = false;
};

}  // namespace autodidact::models
