#pragma once
// encoder<Config, Precision>: the BERT family. Post-LN blocks over token +
// position + segment embeddings with an embedding LayerNorm, a pooler
// tanh(W h[CLS] + b), and BERT's two pretraining heads:
//   MLM   logits[N, V] = LN(gelu(h Wdᵀ + bd)) Embᵀ + b_out   (Emb = token embeddings, tied)
//   NSP   logits[B, 2] = pooled Wnspᵀ + bnsp
// PyTorch: transformers.BertForPreTraining (BertModel + BertPreTrainingHeads).
// With embedding_size != d_model (factorised embeddings, projected into the
// blocks) and no pooler: transformers.ElectraForMaskedLM (the generator).
//
//   encoder<minilm_l6, f32> model(/*max_batch=*/8, /*max_seq=*/128);
//   model.forward({ids, segments, lengths, B, T});   // hidden(), pooled()
//   T loss = model.pretraining_loss(mlm_labels, nsp_labels);
//   model.backward();                                 // gradients accumulate
//
// Each call also takes a workspace first (workspace.hpp), and is then const
// on the model: threads share one model, each with its own workspace.
//   decltype(model)::workspace_type ws(8, 128);
//   model.forward(ws, {ids, segments, lengths, B, T});  // model.hidden(ws)

#include <algorithm>  // for std::copy, std::copy_n
#include <cmath>    // for std::tanh, std::isfinite, std::isnan
#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span
#include <utility>  // for std::as_const

#include "autodidact/kernels/common.hpp"         // for gemm_epilogue, activation
#include "autodidact/kernels/cross_entropy.hpp"  // for cross_entropy_forward, cross_entropy_backward
#include "autodidact/kernels/gemm.hpp"           // for gemm, bias_backward
#include "autodidact/heads/mlm.hpp"             // for heads::mlm_head, mlm_forward, mlm_backward
#include "autodidact/heads/sampled_softmax.hpp" // for heads::sampled_softmax
#include "autodidact/heads/nsp.hpp"             // for heads::nsp_head, linear_logits_forward
#include "autodidact/models/detail/body.hpp"     // for detail::body, batch_input

namespace autodidact::models {

template <model_config C, precision_policy P, training_policy Policy = full_training,
          arena_storage_policy Storage = heap_arenas>
class encoder : public detail::body<C, P, Policy, Storage> {
  static_assert(C.attention == attention_kind::bidirectional,
                "autodidact: encoder<> is the BERT family and needs attention = attention_kind::bidirectional "
                "(use decoder<> for causal models).");
  using base = detail::body<C, P, Policy, Storage>;
  using base::ws_;

 public:
  using T = typename base::T;
  using typename base::workspace_type;
  using base::layout;

  // The constructors of the storage policy (models/storage.hpp; body.hpp):
  //   encoder(max_batch, max_seq, init = {})           heap_arenas (the default)
  //   encoder(memory, max_batch, max_seq, init = {})   borrowed_arenas
  //   encoder(init = {})                               static_arenas<B, T>
  using base::base;

  // Every call below comes in two forms: with a workspace (workspace.hpp;
  // const on the model, so threads can share one model, each with its own
  // workspace) and without (the model's own workspace).

  // Runs the body and the pooler. Afterwards hidden() is [B, T, C] and
  // pooled() is [B, C] (when the config has a pooler). The heads' logits
  // are not computed here (the MLM head is about half the FLOPs of a
  // forward): mlm_logits() and nsp_logits() compute them on first use.
  void forward(workspace_type& w, const batch_input& in) const {
    this->body_forward(w, in);
    if constexpr (C.pooler) {
      pool(w);
      if (w.check_finite()) {  // workspace::set_check_finite: the pooler's output [B, C] too
        const T* p = w.act(w.al_.pooled);
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(w.batch()) * C.d_model; ++i) {
          if (!std::isfinite(static_cast<double>(p[i]))) {
            raise<numeric_error>("forward (check_finite): the pooler's output holds ",
                                 std::isnan(static_cast<double>(p[i])) ? "NaN" : "an infinity", " at [sequence ",
                                 i / C.d_model, ", channel ", i % C.d_model,
                                 "]; the layers before it gave finite outputs");
          }
        }
      }
    }
  }
  // Through a non-const model, the packed weights are refreshed first.
  void forward(workspace_type& w, const batch_input& in) {
    this->refresh_packed_if_stale();
    std::as_const(*this).forward(w, in);
  }
  void forward(const batch_input& in) { forward(ws_, in); }

  tensor_view<const T, 2> pooled(const workspace_type& w) const requires(C.pooler) {
    this->require_forward(w, "pooled");
    return {w.act(w.al_.pooled), {w.batch(), C.d_model}};
  }
  tensor_view<const T, 2> pooled() const requires(C.pooler) { return pooled(ws_); }

  // The MLM head's logits [B·T, V] on every position of the last forward
  // (heads/mlm.hpp), computed on first use after each forward.
  tensor_view<const T, 2> mlm_logits(workspace_type& w) const requires(Policy.pretraining_heads) {
    this->require_forward(w, "mlm_logits");
    const int n = w.batch() * w.seq();
    auto& state = w.template head<mlm>();
    if (!state.logits_valid) {
      heads::mlm_forward(mlm_params(), n, this->top(w), mlm_cache(w));
      state.logits_valid = true;
      state.sparse_valid = false;  // the same memory held the gathered rows' head
    }
    return {mlm_cache(w).logits, {n, C.vocab}};
  }
  tensor_view<const T, 2> mlm_logits() requires(Policy.pretraining_heads) { return mlm_logits(ws_); }
  // The next-sentence head's logits [B, 2] (heads/nsp.hpp), computed on first use.
  tensor_view<const T, 2> nsp_logits(workspace_type& w) const requires(Policy.pretraining_heads && C.pooler) {
    this->require_forward(w, "nsp_logits");
    auto& state = w.template head<nsp>();
    if (!state.logits_valid) {
      heads::linear_logits_forward(nsp_params(), w.batch(), w.act(w.al_.pooled), nsp_cache(w));
      state.logits_valid = true;
    }
    return {nsp_cache(w).logits, {w.batch(), 2}};
  }
  tensor_view<const T, 2> nsp_logits() requires(Policy.pretraining_heads && C.pooler) { return nsp_logits(ws_); }

  // After forward: the MLM and NSP heads and their losses (mean cross-entropy
  // over the labelled tokens, ignore index -100, plus mean cross-entropy of
  // the next-sentence labels when given). mlm_labels: [B, T];
  // nsp_labels: [B] or empty. Returns the total loss, like HF's.
  // The MLM head runs on the labelled rows only, gathered (heads/mlm.hpp;
  // mlm_rows::all runs it on every position as BertForPreTraining does:
  // the same loss and gradients up to rounding, several times the FLOPs).
  T pretraining_loss(workspace_type& w, std::span<const std::int32_t> mlm_labels,
                     std::span<const std::int32_t> nsp_labels = {},
                     heads::mlm_rows rows = heads::mlm_rows::labelled) const requires(Policy.pretraining_heads) {
    this->require_forward(w, "pretraining_loss");
    const int b = w.batch(), n = w.batch() * w.seq();
    require(mlm_labels.size() == static_cast<std::size_t>(n), "pretraining_loss: mlm_labels holds ",
            mlm_labels.size(), " labels, expected batch x seq = ", n);
    require(nsp_labels.empty() || nsp_labels.size() == static_cast<std::size_t>(b),
            "pretraining_loss: nsp_labels holds ", nsp_labels.size(), " labels, expected batch = ", b);
    if constexpr (!C.pooler) {
      require(nsp_labels.empty(), "pretraining_loss: next-sentence labels need a config with a pooler");
    }
    kernels::check_targets(n, C.vocab, mlm_labels.data(), kernels::default_ignore_index);
    this->begin_loss(w, "pretraining_loss");
    auto& m = w.template head<mlm>();
    m.all_rows = rows == heads::mlm_rows::all;
    m.sampler = nullptr;
    if (m.all_rows) {
      std::copy(mlm_labels.begin(), mlm_labels.end(), w.token_targets());
      m.count = kernels::cross_entropy_forward(n, C.vocab, mlm_logits(w).data(), C.vocab, w.token_targets(),
                                               w.losses_.data());
      m.loss = mean_loss(w, n, m.count);
    } else {
      // The labelled rows and their targets, kept for backward.
      int count = 0;
      for (int i = 0; i < n; ++i) {
        if (mlm_labels[static_cast<std::size_t>(i)] == kernels::default_ignore_index) continue;
        w.gather_rows()[count] = i;
        w.token_targets()[count++] = mlm_labels[static_cast<std::size_t>(i)];
      }
      m.count = count;
      sparse_head_forward(w);
      if (count > 0)
        kernels::cross_entropy_forward(count, C.vocab, sparse_cache(w).logits, C.vocab, w.token_targets(),
                                       w.losses_.data());
      m.loss = mean_loss(w, count, count);
    }
    if constexpr (C.pooler) {
      auto& s = w.template head<nsp>();
      s.count = 0;
      s.loss = 0;
      if (!nsp_labels.empty()) {
        std::copy(nsp_labels.begin(), nsp_labels.end(), w.sequence_targets());
        s.count = kernels::cross_entropy_forward(b, 2, nsp_logits(w).data(), 2, w.sequence_targets(),
                                                 w.losses_.data());
        s.loss = mean_loss(w, b, s.count);
      }
    }
    return mlm_loss(w) + nsp_loss(w);
  }
  T pretraining_loss(std::span<const std::int32_t> mlm_labels, std::span<const std::int32_t> nsp_labels = {},
                     heads::mlm_rows rows = heads::mlm_rows::labelled) requires(Policy.pretraining_heads) {
    return pretraining_loss(ws_, mlm_labels, nsp_labels, rows);
  }
  // The MLM loss with the decoder over `sampler`'s candidates, drawn for
  // these labels (heads/sampled_softmax.hpp): a training estimate at a
  // fraction of the head's cost. backward() then runs the same head.
  T pretraining_loss(workspace_type& w, std::span<const std::int32_t> mlm_labels,
                     heads::sampled_softmax<T>& sampler) const requires(Policy.pretraining_heads) {
    this->require_forward(w, "pretraining_loss");
    const int n = w.batch() * w.seq();
    require(mlm_labels.size() == static_cast<std::size_t>(n), "pretraining_loss: mlm_labels holds ",
            mlm_labels.size(), " labels, expected batch x seq = ", n);
    require(sampler.vocab() == C.vocab && sampler.width() == base::E, "pretraining_loss: the sampled softmax is for ",
            sampler.vocab(), " tokens of width ", sampler.width(), ", the model has ", C.vocab, " of width ", base::E);
    kernels::check_targets(n, C.vocab, mlm_labels.data(), kernels::default_ignore_index);
    // Checked before any state changes: the candidates are these labels'.
    int count = 0;
    for (std::int32_t y : mlm_labels) {
      if (y == kernels::default_ignore_index) continue;
      require(count < sampler.rows() && sampler.candidates()[static_cast<std::size_t>(sampler.targets()[count])] == y,
              "pretraining_loss: the sampled softmax's candidates were drawn for other labels (draw() first)");
      ++count;
    }
    require(count == sampler.rows(), "pretraining_loss: ", count, " labelled rows, the sampled softmax drew for ",
            sampler.rows());
    this->begin_loss(w, "pretraining_loss");
    for (int i = 0, r = 0; i < n; ++i) {
      if (mlm_labels[static_cast<std::size_t>(i)] == kernels::default_ignore_index) continue;
      w.gather_rows()[r] = i;
      w.token_targets()[r] = sampler.targets()[r];
      ++r;
    }
    auto& m = w.template head<mlm>();
    m.all_rows = false;
    m.sampler = &sampler;
    m.count = count;
    sparse_head_forward(w);
    if (count > 0)
      kernels::cross_entropy_forward(count, sampler.size(), sparse_cache(w).logits, sampler.size(),
                                     w.token_targets(), w.losses_.data());
    m.loss = mean_loss(w, count, count);
    if constexpr (C.pooler) {
      w.template head<nsp>().count = 0;
      w.template head<nsp>().loss = 0;
    }
    return m.loss;
  }
  T pretraining_loss(std::span<const std::int32_t> mlm_labels, heads::sampled_softmax<T>& sampler)
    requires(Policy.pretraining_heads) {
    return pretraining_loss(ws_, mlm_labels, sampler);
  }

  // The parts of the last pretraining_loss.
  T mlm_loss(const workspace_type& w) const noexcept {
    if constexpr (Policy.pretraining_heads) return w.template head<mlm>().loss;
    return T(0);
  }
  T nsp_loss(const workspace_type& w) const noexcept {
    if constexpr (Policy.pretraining_heads && C.pooler) return w.template head<nsp>().loss;
    return T(0);
  }
  T mlm_loss() const noexcept { return mlm_loss(ws_); }
  T nsp_loss() const noexcept { return nsp_loss(ws_); }

  // Backward of pretraining_loss: accumulates every trainable gradient
  // into the workspace's.
  void backward(workspace_type& w) const requires(Policy.pretraining_heads) {
    this->require_loss(w, "backward", "pretraining_loss()");
    const int n = w.batch() * w.seq(), c = C.d_model;
    T* d_hidden = this->top_gradient(w);
    layers::detail::zero(std::ptrdiff_t(n) * c, d_hidden);
    auto& m = w.template head<mlm>();
    if (m.count > 0 && m.all_rows) {
      if (!m.logits_valid) mlm_logits(w);  // overwritten since the loss
      const auto k = mlm_cache(w);  // dlogits in place of the logits
      kernels::cross_entropy_backward(n, C.vocab, k.logits, C.vocab, w.token_targets(), T(1) / T(m.count),
                                      k.logits, C.vocab);
      auto sc = this->scratch(w);
      m.logits_valid = false;  // the logits buffer now holds their gradient
      heads::mlm_backward(mlm_params(), mlm_grads(w), n, this->top(w), k, d_hidden, w.act(w.al_.scratch_c1),
                          w.act(w.al_.scratch_c2), sc.gain, sc.bias);
    } else if (m.count > 0) {
      // mlm_logits() since the loss reused the head's memory: run the
      // gathered rows again (the same rows, so the same values).
      if (!m.sparse_valid) sparse_head_forward(w);
      const int rows = m.count, v = m.sampler ? m.sampler->size() : C.vocab;
      const auto k = sparse_cache(w);
      kernels::cross_entropy_backward(rows, v, k.logits, v, w.token_targets(), T(1) / T(rows), k.logits, v);
      m.sparse_valid = false;
      auto sc = this->scratch(w);
      T* d_rows = w.act(w.al_.scratch_c3);  // [rows, C]; free until body_backward
      layers::detail::zero(std::ptrdiff_t(rows) * c, d_rows);
      if (m.sampler) {
        const auto p = mlm_params();
        T* d_ln = w.act(w.al_.scratch_c1);
        layers::detail::zero(std::ptrdiff_t(rows) * base::E, d_ln);
        m.sampler->backward(p.decoder, mlm_grads(w).decoder, rows, k.ln, k.logits, d_ln);
        heads::mlm_transform_backward(p, mlm_grads(w), rows, k.input, k, d_ln, d_rows, w.act(w.al_.scratch_c2),
                                      sc.gain, sc.bias);
      } else {
        heads::mlm_backward(mlm_params(), mlm_grads(w), rows, k.input, k, d_rows, w.act(w.al_.scratch_c1),
                            w.act(w.al_.scratch_c2), sc.gain, sc.bias);
      }
      for (int r = 0; r < rows; ++r) {  // scatter-add into the rows they came from
        const T* src = d_rows + std::ptrdiff_t(r) * c;
        T* dst = d_hidden + std::ptrdiff_t(w.gather_rows()[r]) * c;
        for (int j = 0; j < c; ++j) dst[j] += src[j];
      }
    }
    T* d_pooled = nullptr;
    if constexpr (C.pooler) {
      d_pooled = w.act(w.al_.scratch_c0);  // [B, C]; the block scratch is free until body_backward
      layers::detail::zero(std::ptrdiff_t(w.batch()) * c, d_pooled);
      auto& s = w.template head<nsp>();
      if (s.count > 0) {
        const auto k = nsp_cache(w);
        kernels::cross_entropy_backward(w.batch(), 2, k.logits, 2, w.sequence_targets(), T(1) / T(s.count),
                                        k.logits, 2);
        s.logits_valid = false;
        heads::linear_logits_backward(nsp_params(), nsp_grads(w), w.batch(), w.act(w.al_.pooled), k, d_pooled);
      }
    }
    backward_from_pooled(w, d_pooled);
  }
  void backward() requires(Policy.pretraining_heads) { backward(ws_); }

  // For task heads: after the head has added d(hidden) into the buffer
  // begin_backward returns (zeroed) and formed d(pooled) [B, C] (or null),
  // propagate into the body.
  void backward_from_pooled(workspace_type& w, const T* d_pooled) const {
    this->require_unconsumed_forward(w, "backward_from_pooled");
    if constexpr (C.pooler) {
      if (d_pooled) pooler_backward(w, d_pooled, this->top_gradient(w));
    }
    this->body_backward(w);
    this->mark_backward_done(w);
  }
  void backward_from_pooled(const T* d_pooled) { backward_from_pooled(ws_, d_pooled); }

 private:
  using mlm = heads::mlm_head;
  using nsp = heads::nsp_head;
  // The heads' Linears as typed layers over the config's widths, bound in
  // place by linear_at (binding.hpp): the MLM head's dense layer and the
  // NSP head; the layout must place their entries as the layers' tables do.
  using mlm_dense_type = typename mlm::template dense_type<C, P>;
  using mlm_norm_type = typename mlm::template norm_type<C, P>;
  using nsp_type = typename nsp::template layer_type<C, P>;
  static constexpr bool heads_laid_out_as_typed_layers() {
    using layout_type = typename base::layout_type;
    if constexpr (layout_type::template has_head<mlm>)
      if (!base::template laid_out_as<mlm_dense_type>(layout.template head<mlm>(), mlm::dense_weight, 2) ||
          !base::template laid_out_as<mlm_norm_type>(layout.template head<mlm>(), mlm::norm_gain, 2))
        return false;
    if constexpr (C.pooler && layout_type::template has_head<nsp>)
      if (!base::template laid_out_as<nsp_type>(layout.template head<nsp>(), nsp::weight, nsp::count))
        return false;
    return true;
  }
  static_assert(heads_laid_out_as_typed_layers(),
                "autodidact: the memory plan must lay the MLM head's dense layer and LayerNorm and the NSP head "
                "out as their typed layers' tables do (weight, then bias; gain, then bias).");
  static constexpr std::size_t mlm_at(std::size_t p) { return layout.template head<mlm>()[p]; }
  static constexpr std::size_t nsp_at(std::size_t p) { return layout.template head<nsp>()[p]; }
  static constexpr std::size_t token_embedding() { return layout.embeddings[embeddings_module::token]; }

  static T mean_loss(const workspace_type& w, int rows, int count) {
    T s = 0;
    for (int i = 0; i < rows; ++i) s += w.losses_.data()[i];
    return count > 0 ? s / T(count) : T(0);
  }

  // The heads bound to the arenas (parameters from the layout, workspaces
  // from the activation layout). The dense layer and the LayerNorm are
  // typed; the decoder a run-time view of the token embedding with
  // output_bias as its bias (two modules: no typed Linear's table lays
  // them out; heads/mlm.hpp).
  typename mlm::template params_type<T> mlm_params() const {
    const int e = base::E;
    const std::size_t dense = mlm_at(mlm::dense_weight);
    return {this->template linear_at<mlm_dense_type>(dense).params(this->linear_packed_at(dense)),
            this->template bound_at<mlm_norm_type>(mlm_at(mlm::norm_gain)).params(),
            {this->parameter_at(token_embedding()), this->parameter_at(mlm_at(mlm::output_bias)), e, C.vocab,
             this->packed_for(token_embedding())},
            C.gelu};
  }
  typename mlm::template grads_type<T> mlm_grads(workspace_type& w) const {
    return {this->template linear_at<mlm_dense_type>(w, mlm_at(mlm::dense_weight)).grads(),
            this->template bound_at<mlm_norm_type>(w, mlm_at(mlm::norm_gain)).grads(),
            {base::gradient_at(w, token_embedding()), base::gradient_at(w, mlm_at(mlm::output_bias))}};
  }
  static typename mlm::template cache_type<T> mlm_cache(const workspace_type& w) {
    return mlm::cache(base::template head_workspace<mlm>(w), C, w.batch() * w.seq(), w.batch());
  }
  // The same memory carved for the gathered labelled rows.
  static typename mlm::template cache_type<T> sparse_cache(const workspace_type& w) {
    return mlm::cache(base::template head_workspace<mlm>(w), C, w.template head<mlm>().count, w.batch());
  }
  // Gathers the labelled rows of hidden() (gather_rows, count) and runs the
  // MLM head on them alone.
  void sparse_head_forward(workspace_type& w) const {
    auto& m = w.template head<mlm>();
    m.logits_valid = false;  // the all-position logits shared this memory
    m.sparse_valid = true;
    if (m.count == 0) return;
    const auto k = sparse_cache(w);
    const T* h = this->top(w);
    const int c = C.d_model;
    for (int r = 0; r < m.count; ++r)
      std::copy_n(h + std::ptrdiff_t(w.gather_rows()[r]) * c, c, k.input + std::ptrdiff_t(r) * c);
    if (m.sampler) {
      const auto p = mlm_params();
      heads::mlm_transform_forward(p, m.count, k.input, k);
      m.sampler->forward(p.decoder, m.count, k.ln, k.logits);
    } else {
      heads::mlm_forward(mlm_params(), m.count, k.input, k);
    }
  }
  // The NSP head, typed, bound likewise.
  typename nsp::template params_type<T> nsp_params() const {
    const std::size_t weight = nsp_at(nsp::weight);
    return this->template linear_at<nsp_type>(weight).params(this->linear_packed_at(weight));
  }
  typename nsp::template grads_type<T> nsp_grads(workspace_type& w) const {
    return this->template linear_at<nsp_type>(w, nsp_at(nsp::weight)).grads();
  }
  static typename nsp::template cache_type<T> nsp_cache(const workspace_type& w) {
    return nsp::cache(base::template head_workspace<nsp>(w), C, w.batch() * w.seq(), w.batch());
  }

  // pooled[b] = tanh(W h[b, 0] + bias)
  void pool(workspace_type& w) const {
    const int b = w.batch(), t = w.seq(), c = C.d_model;
    T* cls = w.act(w.al_.pooled_input);
    const T* h = this->top(w);
    for (int i = 0; i < b; ++i) {
      std::copy(h + std::ptrdiff_t(i) * t * c, h + std::ptrdiff_t(i) * t * c + c, cls + std::ptrdiff_t(i) * c);
    }
    T* out = w.act(w.al_.pooled);
    this->pooler_at().forward(b, cls, out, {}, this->pooler_packed());
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(b) * c; ++i) out[i] = std::tanh(out[i]);
  }

  void pooler_backward(workspace_type& w, const T* d_pooled, T* d_hidden) const {
    const int b = w.batch(), t = w.seq(), c = C.d_model;
    const T* out = w.act(w.al_.pooled);
    T* d_pre = w.act(w.al_.scratch_c1);  // [B, C]
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(b) * c; ++i) d_pre[i] = d_pooled[i] * (T(1) - out[i] * out[i]);
    T* d_cls = w.act(w.al_.scratch_c2);  // [B, C]
    layers::detail::zero(std::ptrdiff_t(b) * c, d_cls);
    this->pooler_at(w).backward(b, w.act(w.al_.pooled_input), d_pre, d_cls);
    for (int i = 0; i < b; ++i) {
      for (int j = 0; j < c; ++j) d_hidden[std::ptrdiff_t(i) * t * c + j] += d_cls[std::ptrdiff_t(i) * c + j];
    }
  }
};

}  // namespace autodidact::models
