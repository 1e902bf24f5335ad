#pragma once
// encoder<Config, Precision>: the BERT family. Post-LN blocks over token +
// position + segment embeddings with an embedding LayerNorm, a pooler
// tanh(W h[CLS] + b), and BERT's two pretraining heads:
//   MLM   logits[N, V] = LN(gelu(h Wdᵀ + bd)) Eᵀ + b_out   (E = token embeddings, tied)
//   NSP   logits[B, 2] = pooled Wnspᵀ + bnsp
// PyTorch: transformers.BertForPreTraining (BertModel + BertPreTrainingHeads).
//
//   encoder<minilm_l6, f32> model(/*max_batch=*/8, /*max_seq=*/128);
//   model.forward({ids, segments, lengths, B, T});   // hidden(), pooled()
//   T loss = model.pretraining_loss(mlm_labels, nsp_labels);
//   model.backward();                                 // gradients accumulate

#include <cmath>    // for std::tanh
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span

#include "autodidact/kernels/common.hpp"         // for gemm_epilogue, activation
#include "autodidact/kernels/cross_entropy.hpp"  // for cross_entropy_forward, cross_entropy_backward
#include "autodidact/kernels/gemm.hpp"           // for gemm, bias_backward
#include "autodidact/heads/mlm.hpp"             // for heads::mlm_head, mlm_forward, mlm_backward
#include "autodidact/heads/nsp.hpp"             // for heads::nsp_head, linear_logits_forward
#include "autodidact/models/detail/body.hpp"     // for detail::body, batch_input

namespace autodidact::models {

template <model_config C, precision_policy P, training_policy Policy = full_training>
class encoder : public detail::body<C, P, Policy> {
  static_assert(C.attention == attention_kind::bidirectional,
                "autodidact: encoder<> is the BERT family and needs attention = attention_kind::bidirectional "
                "(use decoder<> for causal models).");
  using base = detail::body<C, P, Policy>;
  using base::act;
  using base::al_;

 public:
  using T = typename base::T;
  using base::layout;

  encoder(int max_batch, int max_seq, const init_options& init = {})
      : base(max_batch, max_seq, init),
        mlm_targets_(static_cast<std::size_t>(max_batch) * max_seq),
        nsp_targets_(static_cast<std::size_t>(max_batch)),
        losses_(static_cast<std::size_t>(max_batch) * max_seq) {}

  // Runs the body and the pooler. Afterwards hidden() is [B, T, C] and
  // pooled() is [B, C] (when the config has a pooler). The heads' logits
  // are not computed here (the MLM head is about half the FLOPs of a
  // forward): mlm_logits() and nsp_logits() compute them on first use.
  void forward(const batch_input& in) {
    this->body_forward(in);
    if constexpr (C.pooler) pool();
    mlm_valid_ = nsp_valid_ = false;
  }

  // The body's output [B, T, C]: the last block's (or the final
  // LayerNorm's, in a config with one).
  tensor_view<const T, 3> hidden() const {
    this->require_forward("hidden");
    return {this->top(), {this->batch_, this->seq_, C.d_model}};
  }
  tensor_view<const T, 2> pooled() const requires(C.pooler) {
    this->require_forward("pooled");
    return {act(al_.pooled), {this->batch_, C.d_model}};
  }

  // The MLM head's logits [B·T, V] on every position of the last forward
  // (heads/mlm.hpp), computed on first use after each forward.
  tensor_view<const T, 2> mlm_logits() requires(Policy.pretraining_heads) {
    this->require_forward("mlm_logits");
    if (!mlm_valid_) {
      heads::mlm_forward(mlm_params(), this->batch_ * this->seq_, hidden().data(), mlm_cache());
      mlm_valid_ = true;
    }
    return {mlm_cache().logits, {this->batch_ * this->seq_, C.vocab}};
  }
  // The next-sentence head's logits [B, 2] (heads/nsp.hpp), computed on first use.
  tensor_view<const T, 2> nsp_logits() requires(Policy.pretraining_heads && C.pooler) {
    this->require_forward("nsp_logits");
    if (!nsp_valid_) {
      heads::linear_logits_forward(nsp_params(), this->batch_, act(al_.pooled), nsp_cache());
      nsp_valid_ = true;
    }
    return {nsp_cache().logits, {this->batch_, 2}};
  }

  // After forward: the MLM and NSP heads and their losses (mean cross-entropy
  // over the labelled tokens, ignore index -100, plus mean cross-entropy of
  // the next-sentence labels when given). mlm_labels: [B, T];
  // nsp_labels: [B] or empty. Returns the total loss, like HF's.
  T pretraining_loss(std::span<const std::int32_t> mlm_labels,
                     std::span<const std::int32_t> nsp_labels = {}) requires(Policy.pretraining_heads) {
    this->require_forward("pretraining_loss");
    const int b = this->batch_, n = this->batch_ * this->seq_;
    require(mlm_labels.size() == static_cast<std::size_t>(n), "pretraining_loss: mlm_labels holds ",
            mlm_labels.size(), " labels, expected batch x seq = ", n);
    require(nsp_labels.empty() || nsp_labels.size() == static_cast<std::size_t>(b),
            "pretraining_loss: nsp_labels holds ", nsp_labels.size(), " labels, expected batch = ", b);
    if constexpr (!C.pooler) {
      require(nsp_labels.empty(), "pretraining_loss: next-sentence labels need a config with a pooler");
    }
    this->begin_loss("pretraining_loss");
    std::copy(mlm_labels.begin(), mlm_labels.end(), mlm_targets_.begin());
    const T* logits = mlm_logits().data();
    mlm_count_ = kernels::cross_entropy_forward(n, C.vocab, logits, C.vocab, mlm_targets_.data(), losses_.data());
    T loss = 0;
    for (int i = 0; i < n; ++i) loss += losses_[static_cast<std::size_t>(i)];
    mlm_loss_ = mlm_count_ > 0 ? loss / T(mlm_count_) : T(0);
    nsp_count_ = 0;
    nsp_loss_ = 0;
    if constexpr (C.pooler) {
      if (!nsp_labels.empty()) {
        std::copy(nsp_labels.begin(), nsp_labels.end(), nsp_targets_.begin());
        nsp_count_ = kernels::cross_entropy_forward(b, 2, nsp_logits().data(), 2, nsp_targets_.data(), losses_.data());
        T s = 0;
        for (int i = 0; i < b; ++i) s += losses_[static_cast<std::size_t>(i)];
        nsp_loss_ = nsp_count_ > 0 ? s / T(nsp_count_) : T(0);
      }
    }
    return mlm_loss_ + nsp_loss_;
  }

  T mlm_loss() const noexcept { return mlm_loss_; }
  T nsp_loss() const noexcept { return nsp_loss_; }

  // Backward of pretraining_loss: accumulates every trainable gradient.
  void backward() requires(Policy.pretraining_heads) {
    this->require_loss("backward", "pretraining_loss()");
    const int n = this->batch_ * this->seq_, c = C.d_model;
    T* d_hidden = this->top_gradient();
    layers::detail::zero(std::ptrdiff_t(n) * c, d_hidden);
    if (mlm_count_ > 0) {
      const auto k = mlm_cache();  // dlogits in place of the logits
      kernels::cross_entropy_backward(n, C.vocab, k.logits, C.vocab, mlm_targets_.data(), T(1) / T(mlm_count_),
                                      k.logits, C.vocab);
      auto sc = this->scratch();
      mlm_valid_ = false;  // the logits buffer now holds their gradient
      heads::mlm_backward(mlm_params(), mlm_grads(), n, hidden().data(), k, d_hidden, act(al_.scratch_c1),
                          act(al_.scratch_c2), sc.gain, sc.bias);
    }
    T* d_pooled = nullptr;
    if constexpr (C.pooler) {
      d_pooled = act(al_.scratch_c0);  // [B, C]; the block scratch is free until body_backward
      layers::detail::zero(std::ptrdiff_t(this->batch_) * c, d_pooled);
      if (nsp_count_ > 0) {
        const auto k = nsp_cache();
        kernels::cross_entropy_backward(this->batch_, 2, k.logits, 2, nsp_targets_.data(), T(1) / T(nsp_count_),
                                        k.logits, 2);
        nsp_valid_ = false;
        heads::linear_logits_backward(nsp_params(), nsp_grads(), this->batch_, act(al_.pooled), k, d_pooled);
      }
    }
    backward_from_pooled(d_pooled);
  }

  // For task heads: after the head has added d(hidden) into
  // top_gradient() (zeroed by begin_backward) and formed d(pooled) [B, C]
  // (or null), propagate into the body.
  T* begin_backward() {
    this->require_unconsumed_forward("begin_backward");
    T* d = this->top_gradient();
    layers::detail::zero(std::ptrdiff_t(this->batch_) * this->seq_ * C.d_model, d);
    return d;
  }
  void backward_from_pooled(const T* d_pooled) {
    this->require_unconsumed_forward("backward_from_pooled");
    if constexpr (C.pooler) {
      if (d_pooled) pooler_backward(d_pooled, this->top_gradient());
    }
    this->body_backward();
    this->mark_backward_done();
  }

 private:
  using mlm = heads::mlm_head;
  using nsp = heads::nsp_head;
  using heads_type = typename base::heads_type;
  static constexpr std::size_t pooler_at(std::size_t p) { return layout.pooler[p]; }
  static constexpr std::size_t mlm_at(std::size_t p) { return layout.template head<mlm>()[p]; }
  static constexpr std::size_t nsp_at(std::size_t p) { return layout.template head<nsp>()[p]; }
  static constexpr std::size_t token_embedding() { return layout.embeddings[embeddings_module::token]; }

  // The heads bound to the arenas (parameters from the layout, workspaces
  // from the activation layout).
  typename mlm::template params_type<T> mlm_params() const {
    const int c = C.d_model;
    return {this->linear_at(mlm_at(mlm::dense_weight), mlm_at(mlm::dense_bias), c, c),
            this->layernorm_at(mlm_at(mlm::norm_gain), mlm_at(mlm::norm_bias)),
            {this->parameter_at(token_embedding()), this->parameter_at(mlm_at(mlm::output_bias)), c, C.vocab,
             this->packed_for(token_embedding())},
            C.gelu};
  }
  typename mlm::template grads_type<T> mlm_grads() {
    return {this->linear_grads_at(mlm_at(mlm::dense_weight), mlm_at(mlm::dense_bias)),
            this->layernorm_grads_at(mlm_at(mlm::norm_gain), mlm_at(mlm::norm_bias)),
            {this->gradient_at(token_embedding()), this->gradient_at(mlm_at(mlm::output_bias))}};
  }
  typename mlm::template cache_type<T> mlm_cache() const {
    return mlm::cache(this->template head_workspace<mlm>(), C, this->batch_ * this->seq_, this->batch_);
  }
  typename nsp::template params_type<T> nsp_params() const {
    return this->linear_at(nsp_at(nsp::weight), nsp_at(nsp::bias), C.d_model, 2);
  }
  typename nsp::template grads_type<T> nsp_grads() {
    return this->linear_grads_at(nsp_at(nsp::weight), nsp_at(nsp::bias));
  }
  typename nsp::template cache_type<T> nsp_cache() const {
    return nsp::cache(this->template head_workspace<nsp>(), C, this->batch_ * this->seq_, this->batch_);
  }

  // pooled[b] = tanh(W h[b, 0] + bias)
  void pool() {
    const int b = this->batch_, t = this->seq_, c = C.d_model;
    T* cls = act(al_.pooled_input);
    const T* h = hidden().data();
    for (int i = 0; i < b; ++i) {
      std::copy(h + std::ptrdiff_t(i) * t * c, h + std::ptrdiff_t(i) * t * c + c,
                cls + std::ptrdiff_t(i) * c);
    }
    T* out = act(al_.pooled);
    layers::linear_forward(this->linear_at(pooler_at(pooler_module::weight), pooler_at(pooler_module::bias), c, c), b,
                           cls, out);
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(b) * c; ++i) out[i] = std::tanh(out[i]);
  }

  void pooler_backward(const T* d_pooled, T* d_hidden) {
    const int b = this->batch_, t = this->seq_, c = C.d_model;
    const T* out = act(al_.pooled);
    T* d_pre = act(al_.scratch_c1);  // [B, C]
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(b) * c; ++i)
      d_pre[i] = d_pooled[i] * (T(1) - out[i] * out[i]);
    T* d_cls = act(al_.scratch_c2);  // [B, C]
    layers::detail::zero(std::ptrdiff_t(b) * c, d_cls);
    layers::linear_backward(this->linear_at(pooler_at(pooler_module::weight), pooler_at(pooler_module::bias), c, c),
                            this->linear_grads_at(pooler_at(pooler_module::weight), pooler_at(pooler_module::bias)),
                            b, act(al_.pooled_input), d_pre, d_cls);
    for (int i = 0; i < b; ++i) {
      for (int j = 0; j < c; ++j) d_hidden[std::ptrdiff_t(i) * t * c + j] += d_cls[std::ptrdiff_t(i) * c + j];
    }
  }

  std::vector<std::int32_t> mlm_targets_, nsp_targets_;
  std::vector<T> losses_;
  int mlm_count_ = 0, nsp_count_ = 0;
  T mlm_loss_ = 0, nsp_loss_ = 0;
  bool mlm_valid_ = false, nsp_valid_ = false;  // the heads' logits are those of the last forward
};

}  // namespace autodidact::models
