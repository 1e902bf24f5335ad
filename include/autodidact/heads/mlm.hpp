#pragma once
// BERT's masked-LM head (BertLMPredictionHead) as a module:
//   logits[N, V] = LN(gelu(h Wdᵀ + bd)) Embᵀ + b_out
// with Emb the token embedding [V, E] (the decoder is tied to it) and b_out
// its own output bias. The dense layer maps C → E (E = embedding_width():
// C for BERT; ELECTRA's generator head with factorised embeddings, whose
// LayerNorm is E wide too). Hugging Face: cls.predictions.* (BERT),
// generator_predictions.* and generator_lm_head.bias (ELECTRA).
//
// The module declares its parameters (parameters()) and its workspace for
// N rows (workspace_elements, carved by cache()): room for N gathered
// input rows, the dense output before and after GELU, the LayerNorm output
// and statistics, and the logits. mlm_forward / mlm_backward run it on any
// n rows of hidden states — all positions (mlm_rows::all) or only the
// labelled ones, gathered first (mlm_rows::labelled: at 15 % masking the
// head then costs about a seventh of the all-position head).

#include <algorithm>    // for std::fill_n
#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <span>         // for std::span
#include <string>       // for std::string

#include "autodidact/config.hpp"              // for model_config, gelu_kind
#include "autodidact/core/arena.hpp"          // for aligned_count
#include "autodidact/kernels/common.hpp"      // for gemm_epilogue, to_activation
#include "autodidact/kernels/gelu.hpp"        // for gelu_backward
#include "autodidact/layers/layernorm.hpp"    // for layernorm_forward, layernorm_backward
#include "autodidact/layers/linear.hpp"       // for linear_forward, linear_backward
#include "autodidact/layers/typed/layernorm.hpp" // for layers::layernorm
#include "autodidact/layers/typed/linear.hpp" // for layers::linear
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule
#include "autodidact/precision.hpp"           // for precision_policy

namespace autodidact::heads {

// Where encoder<>::pretraining_loss runs the MLM head: only on the rows
// with a label (the default; same loss and gradients), or on every
// position (as BertForPreTraining does; for comparison).
enum class mlm_rows { labelled, all };

struct mlm_head {
  enum param : std::size_t { dense_weight, dense_bias, norm_gain, norm_bias, output_bias, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    using models::param_role;
    const std::size_t d = static_cast<std::size_t>(c.d_model), v = static_cast<std::size_t>(c.vocab),
                      e = static_cast<std::size_t>(c.embedding_width());
    return {{{"dense.weight", e, d, param_role::matrix, true},
             {"dense.bias", e, 0, param_role::bias},
             {"ln.gain", e, 0, param_role::norm_gain},
             {"ln.bias", e, 0, param_role::norm_bias},
             {"output_bias", v, 0, param_role::bias}}};
  }
  // The dense layer as a typed Linear C → E: its two entries open the
  // table, laid out as the layer's table (encoder<> checks it), so a model
  // binds it in place (models/detail/binding.hpp's linear_at).
  template <model_config C, precision_policy P>
  using dense_type = layers::linear<C.d_model, C.embedding_width(), P>;
  // Its LayerNorm over E as a typed layer (gain, then bias: its table).
  template <model_config C, precision_policy P>
  using norm_type = layers::layernorm<C.embedding_width(), P, C.layer_norm_eps>;
  // The decoder matrix is the token embedding [V, E] (packed with the heads).
  static constexpr bool multiplies_token_embedding(const model_config&) noexcept { return true; }
  static std::string prefix(int) { return "mlm."; }
  static std::string hf_prefix(models::hf_family f, int) {
    return f == models::hf_family::electra ? "" : "cls.predictions.";
  }
  static constexpr models::hf_rule rules[] = {{dense_weight, "transform.dense.weight"},
                                              {dense_bias, "transform.dense.bias"},
                                              {norm_gain, "transform.LayerNorm.weight"},
                                              {norm_bias, "transform.LayerNorm.bias"},
                                              {output_bias, "bias"}};
  static constexpr models::hf_rule electra_rules[] = {{dense_weight, "generator_predictions.dense.weight"},
                                                      {dense_bias, "generator_predictions.dense.bias"},
                                                      {norm_gain, "generator_predictions.LayerNorm.weight"},
                                                      {norm_bias, "generator_predictions.LayerNorm.bias"},
                                                      {output_bias, "generator_lm_head.bias"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family f) {
    return f == models::hf_family::electra ? std::span<const models::hf_rule>(electra_rules)
                                           : std::span<const models::hf_rule>(rules);
  }

  // What forward keeps for backward, for n rows.
  template <class T>
  struct cache_type {
    T* input = nullptr;   // [n, C] the gathered hidden rows (mlm_rows::labelled)
    T* pre = nullptr;     // [n, E] dense output before GELU
    T* act = nullptr;     // [n, E] after GELU
    T* ln = nullptr;      // [n, E] LayerNorm output
    T* mean = nullptr;    // [n]
    T* rstd = nullptr;    // [n]
    T* logits = nullptr;  // [n, V] (dlogits in place during backward)
  };
  template <class T>
  static constexpr std::size_t workspace_elements(const model_config& c, int rows, int /*batch*/) {
    const std::size_t n = static_cast<std::size_t>(rows), d = static_cast<std::size_t>(c.embedding_width());
    return aligned_count<T>(n * static_cast<std::size_t>(c.d_model)) + 3 * aligned_count<T>(n * d) +
           2 * aligned_count<T>(n) + aligned_count<T>(n * static_cast<std::size_t>(c.vocab));
  }
  template <class T>
  static cache_type<T> cache(T* base, const model_config& c, int rows, int /*batch*/) {
    const std::size_t n = static_cast<std::size_t>(rows), d = static_cast<std::size_t>(c.embedding_width());
    cache_type<T> k;
    auto take = [&](std::size_t count) {
      T* p = base;
      base += aligned_count<T>(count);
      return p;
    };
    k.input = take(n * static_cast<std::size_t>(c.d_model));
    k.pre = take(n * d);
    k.act = take(n * d);
    k.ln = take(n * d);
    k.mean = take(n);
    k.rstd = take(n);
    k.logits = take(n * static_cast<std::size_t>(c.vocab));
    return k;
  }

  // The head's parameters bound to an arena: the free functions' structs
  // (the dense layer's from its typed layer, dense_type::params()). The
  // decoder stays a run-time view: its weight is the token embedding (the
  // embeddings module's) and its bias this head's output_bias, two modules
  // no one typed Linear's table can lay out.
  template <class T>
  struct params_type {
    layers::linear_params<T> dense;    // [E, C]
    layers::layernorm_params<T> norm;  // E wide
    layers::linear_params<T> decoder;  // the token embedding [V, E], bias = output_bias
    gelu_kind gelu = gelu_kind::erf;
  };
  template <class T>
  struct grads_type {
    layers::linear_grads<T> dense;
    layers::layernorm_grads<T> norm;
    layers::linear_grads<T> decoder;  // into the token embedding's gradient (tied) and output_bias's
  };
};

// The transform (dense, GELU, LayerNorm) of hidden[n, C] into k.ln [n, E].
template <class T>
void mlm_transform_forward(const mlm_head::params_type<T>& p, int n, const T* hidden,
                           const mlm_head::cache_type<T>& k) {
  kernels::gemm_epilogue<T> ep{};
  ep.act = kernels::to_activation(p.gelu);
  ep.pre_activation = k.pre;
  layers::linear_forward(p.dense, n, hidden, k.act, ep);
  layers::layernorm_forward(p.norm, n, k.act, k.ln, {k.mean, k.rstd});
}

// logits[n, V] of hidden[n, C] (into k.logits), keeping what backward needs.
template <class T>
void mlm_forward(const mlm_head::params_type<T>& p, int n, const T* hidden, const mlm_head::cache_type<T>& k) {
  mlm_transform_forward(p, n, hidden, k);
  layers::linear_forward(p.decoder, n, k.ln, k.logits);
}

// The transform's backward from d ln[n, E] (in d_ln): accumulates its gradients and adds d hidden[n, C] into
// d_hidden. scratch_act holds n x E; sink_gain / sink_bias [E] take
// LayerNorm gradients when frozen.
template <class T>
void mlm_transform_backward(const mlm_head::params_type<T>& p, const mlm_head::grads_type<T>& g, int n,
                            const T* hidden, const mlm_head::cache_type<T>& k, T* d_ln, T* d_hidden,
                            T* scratch_act, T* sink_gain, T* sink_bias) {
  const std::ptrdiff_t nc = std::ptrdiff_t(n) * p.dense.out;
  std::fill_n(scratch_act, nc, T(0));
  layers::layernorm_backward(p.norm, g.norm, n, k.act, {k.mean, k.rstd}, d_ln, scratch_act, sink_gain,
                             sink_bias);
  kernels::gelu_backward(p.gelu, nc, k.pre, scratch_act, scratch_act, kernels::write_mode::overwrite);
  layers::linear_backward(p.dense, g.dense, n, hidden, scratch_act, d_hidden);
}

// From dlogits[n, V] (in k.logits): accumulates the head's gradients and
// adds d hidden[n, C] into d_hidden. scratch_ln and scratch_act hold n x E
// each; sink_gain / sink_bias [E] take LayerNorm gradients when frozen.
template <class T>
void mlm_backward(const mlm_head::params_type<T>& p, const mlm_head::grads_type<T>& g, int n, const T* hidden,
                  const mlm_head::cache_type<T>& k, T* d_hidden, T* scratch_ln, T* scratch_act, T* sink_gain,
                  T* sink_bias) {
  std::fill_n(scratch_ln, std::ptrdiff_t(n) * p.dense.out, T(0));
  layers::linear_backward(p.decoder, g.decoder, n, k.ln, k.logits, scratch_ln);
  mlm_transform_backward(p, g, n, hidden, k, scratch_ln, d_hidden, scratch_act, sink_gain, sink_bias);
}

}  // namespace autodidact::heads
