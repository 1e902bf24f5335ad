#pragma once
// The memory plan of a model: where every parameter, gradient, optimizer
// moment and activation lives in its flat arena. Sizes and offsets are
// constexpr functions of (config, precision, training policy) and, for
// activations, of (batch, sequence). Each tensor starts on a 64-byte
// boundary, so kernels may use aligned loads at tensor starts.
//
// Parameter order (also the order a frozen prefix is cut from):
//   embeddings (token [V,C], position [P,C], segment [S,C], embedding LN)
//   blocks 0 .. L-1
//   final LayerNorm (pre-LN models), pooler (encoders with one)
//   pretraining heads: MLM transform + LN + output bias (encoder, tied
//   decoder), next-sentence head [2,C] (encoder with a pooler); untied LM
//   head [V,C] when the config does not tie it.

#include <algorithm>  // for std::max
#include <array>    // for std::array
#include <cstddef>  // for std::size_t

#include "autodidact/config.hpp"      // for model_config, check_config
#include "autodidact/core/arena.hpp"  // for aligned_count
#include "autodidact/precision.hpp"   // for precision_policy

namespace autodidact::models {

// What is trained, which decides the gradient and moment arenas.
struct training_policy {
  bool trainable = true;           // false: inference only (no gradients, moments)
  bool freeze_embeddings = false;  // embeddings get no gradient
  int frozen_layers = 0;           // blocks 0 .. frozen_layers-1 get no gradient
  int optimizer_moments = 2;       // AdamW keeps m and v
  bool pretraining_heads = true;   // room for MLM/LM logits [N, V] and head buffers
  friend constexpr bool operator==(const training_policy&, const training_policy&) = default;
};
inline constexpr training_policy full_training{};
inline constexpr training_policy inference_only{.trainable = false, .optimizer_moments = 0, .pretraining_heads = false};

// Offsets (in elements) of one block's parameters. Weights are stored as
// PyTorch's Linear does: [out, in].
struct block_parameters {
  std::size_t ln1_gain, ln1_bias;      // [C], [C]  (post-LN: after attention)
  std::size_t qkv_weight, qkv_bias;    // [3C, C], [3C]
  std::size_t proj_weight, proj_bias;  // [C, C], [C]
  std::size_t ln2_gain, ln2_bias;      // [C], [C]  (post-LN: after feed-forward)
  std::size_t ff1_weight, ff1_bias;    // [F, C], [F]
  std::size_t ff2_weight, ff2_bias;    // [C, F], [C]
};

template <model_config C>
struct parameter_layout {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t token_embedding = npos;     // [V, C]
  std::size_t position_embedding = npos;  // [P, C]
  std::size_t segment_embedding = npos;   // [S, C] (npos when S = 0)
  std::size_t embedding_ln_gain = npos, embedding_ln_bias = npos;  // [C] (post-LN)
  std::array<block_parameters, C.layers> blocks{};
  std::size_t final_ln_gain = npos, final_ln_bias = npos;  // [C] (pre-LN)
  std::size_t pooler_weight = npos, pooler_bias = npos;    // [C, C], [C]
  std::size_t mlm_dense_weight = npos, mlm_dense_bias = npos;  // [C, C], [C]
  std::size_t mlm_ln_gain = npos, mlm_ln_bias = npos;          // [C]
  std::size_t mlm_output_bias = npos;                          // [V]
  std::size_t nsp_weight = npos, nsp_bias = npos;              // [2, C], [2]
  std::size_t lm_head_weight = npos;                           // [V, C] (untied only)
  std::size_t body_end = 0;         // end of the body (embeddings, blocks, final LN, pooler)
  std::size_t total = 0;            // elements including alignment padding
  std::size_t real_parameters = 0;  // elements excluding padding
};

// Builds the layout for element type T (padding depends on sizeof(T)).
template <model_config C, class T>
constexpr parameter_layout<C> make_parameter_layout() {
  static_assert(check_config<C>());
  parameter_layout<C> p{};
  std::size_t at = 0, real = 0;
  auto take = [&](std::size_t n) {
    const std::size_t start = at;
    at += aligned_count<T>(n);
    real += n;
    return start;
  };
  const std::size_t c = C.d_model, f = C.d_ff, v = C.vocab;
  const bool post = C.norm == norm_placement::post;
  p.token_embedding = take(v * c);
  p.position_embedding = take(static_cast<std::size_t>(C.max_positions) * c);
  if (C.type_vocab > 0) p.segment_embedding = take(static_cast<std::size_t>(C.type_vocab) * c);
  if (post) {
    p.embedding_ln_gain = take(c);
    p.embedding_ln_bias = take(c);
  }
  for (auto& b : p.blocks) {
    b.ln1_gain = take(c);
    b.ln1_bias = take(c);
    b.qkv_weight = take(3 * c * c);
    b.qkv_bias = take(3 * c);
    b.proj_weight = take(c * c);
    b.proj_bias = take(c);
    b.ln2_gain = take(c);
    b.ln2_bias = take(c);
    b.ff1_weight = take(f * c);
    b.ff1_bias = take(f);
    b.ff2_weight = take(c * f);
    b.ff2_bias = take(c);
  }
  if (!post) {
    p.final_ln_gain = take(c);
    p.final_ln_bias = take(c);
  }
  if (C.pooler) {
    p.pooler_weight = take(c * c);
    p.pooler_bias = take(c);
  }
  p.body_end = at;
  if (post) {  // BERT's MLM head: dense + GELU + LN, decoder tied, own bias
    p.mlm_dense_weight = take(c * c);
    p.mlm_dense_bias = take(c);
    p.mlm_ln_gain = take(c);
    p.mlm_ln_bias = take(c);
    p.mlm_output_bias = take(v);
    if (C.pooler) {
      p.nsp_weight = take(2 * c);
      p.nsp_bias = take(2);
    }
  }
  if (!C.tied_lm_head) p.lm_head_weight = take(v * c);
  p.total = at;
  p.real_parameters = real;
  return p;
}

// Offsets of the per-block activations saved for backward, for N = B x T
// tokens (relative to the block's start).
struct block_activations {
  std::size_t ln1, ln1_mean, ln1_rstd;  // [N, C], [N], [N]
  std::size_t qkv;                      // [N, 3C]
  std::size_t probs;                    // [B, H, T, T] attention probabilities (inference: [B, H, T] logsumexp)
  std::size_t context;                  // [N, C] heads concatenated
  std::size_t residual1;                // [N, C] input + attention projection
  std::size_t ln2, ln2_mean, ln2_rstd;  // [N, C], [N], [N]
  std::size_t ff_pre, ff_act;           // [N, F] before (training only) / after GELU
  std::size_t residual2;                // [N, C]
  std::size_t size;                     // elements of one block
};

struct activation_layout {
  std::size_t embeddings;             // [N, C] sum of token, position, segment embeddings
  std::size_t embedding_ln, embedding_mean, embedding_rstd;  // [N, C], [N], [N] (post-LN)
  std::size_t blocks;                 // block_slots consecutive blocks of block_activations::size
  int block_slots;                    // L when training; 2 for inference (block l uses slot l % 2)
  block_activations block;            // offsets inside one block
  std::size_t final_ln, final_mean, final_rstd;  // [N, C], [N], [N]
  std::size_t pooled_input, pooled;   // [B, C]: h[CLS], tanh(W h + b)
  std::size_t head_pre, head_act, head_ln, head_mean, head_rstd;  // [N, C] x3, [N] x2
  std::size_t logits;                 // [N, V] (dlogits in place during backward)
  std::size_t nsp_logits;             // [B, 2]
  std::size_t grad_a, grad_b;         // [N, C] gradients flowing down the block stack
  std::size_t scratch_c0, scratch_c1, scratch_c2, scratch_c3;  // [N, C] backward scratch
  std::size_t scratch_qkv;            // [N, 3C]
  std::size_t scratch_f;              // [N, F]
  std::size_t scratch_probs;          // [B, H, T, T]
  std::size_t scratch_small;          // [C] sinks for frozen LayerNorm gradients (x2)
  std::size_t total;
};

// Activation layout for `batch` sequences of `seq` tokens, element type T.
template <model_config C, class T>
constexpr activation_layout make_activation_layout(int batch, int seq, bool heads = true, bool train = true) {
  activation_layout a{};
  const std::size_t n = static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq);
  const std::size_t c = C.d_model, f = C.d_ff, v = C.vocab, h = C.heads;
  const std::size_t tt = static_cast<std::size_t>(batch) * h * static_cast<std::size_t>(seq) * seq;
  std::size_t at = 0;
  auto take = [&](std::size_t count) {
    const std::size_t start = at;
    at += aligned_count<T>(count);
    return start;
  };
  a.embeddings = take(n * c);
  a.embedding_ln = take(n * c);
  a.embedding_mean = take(n);
  a.embedding_rstd = take(n);
  {
    std::size_t b = 0;
    auto btake = [&](std::size_t count) {
      const std::size_t start = b;
      b += aligned_count<T>(count);
      return start;
    };
    a.block.ln1 = btake(n * c);
    a.block.ln1_mean = btake(n);
    a.block.ln1_rstd = btake(n);
    a.block.qkv = btake(3 * n * c);
    // Training may turn attention dropout on, which keeps P [B, H, T, T];
    // inference runs the blocked kernel, which keeps a logsumexp per row.
    a.block.probs = btake(train ? tt : static_cast<std::size_t>(batch) * h * static_cast<std::size_t>(seq));
    a.block.context = btake(n * c);
    a.block.residual1 = btake(n * c);
    a.block.ln2 = btake(n * c);
    a.block.ln2_mean = btake(n);
    a.block.ln2_rstd = btake(n);
    a.block.ff_pre = btake(train ? n * f : 0);  // only backward needs GELU's input
    a.block.ff_act = btake(n * f);
    a.block.residual2 = btake(n * c);
    a.block.size = b;
  }
  a.blocks = at;
  // Inference keeps no activations for backward: two block slots alternate.
  a.block_slots = train ? C.layers : (C.layers < 2 ? C.layers : 2);
  at += a.block.size * static_cast<std::size_t>(a.block_slots);
  a.final_ln = take(n * c);
  a.final_mean = take(n);
  a.final_rstd = take(n);
  a.pooled_input = take(static_cast<std::size_t>(batch) * c);
  a.pooled = take(static_cast<std::size_t>(batch) * c);
  const std::size_t hn = heads ? n : 0;  // inference without heads needs no logits
  a.head_pre = take(hn * c);
  a.head_act = take(hn * c);
  a.head_ln = take(hn * c);
  a.head_mean = take(hn);
  a.head_rstd = take(hn);
  a.logits = take(hn * v);
  a.nsp_logits = take(static_cast<std::size_t>(batch) * 2);
  const std::size_t bn = train ? n : 0;  // backward buffers (none for inference)
  a.grad_a = take(bn * c);
  a.grad_b = take(bn * c);
  a.scratch_c0 = take(std::max(bn * c, static_cast<std::size_t>(batch) * c));  // also the pooler's [B, C]
  a.scratch_c1 = take(std::max(bn * c, static_cast<std::size_t>(batch) * c));
  a.scratch_c2 = take(std::max(bn * c, static_cast<std::size_t>(batch) * c));
  a.scratch_c3 = take(bn * c);
  a.scratch_qkv = take(3 * bn * c);
  a.scratch_f = take(bn * f);
  a.scratch_probs = take(train ? tt : 0);
  a.scratch_small = take(2 * c);
  a.total = at;
  return a;
}

// The whole plan of a model type: the numbers a user needs to size memory.
template <model_config C, precision_policy P, training_policy Policy = full_training>
struct memory_plan {
  static_assert(check_config<C>());
  static_assert(Policy.frozen_layers >= 0 && Policy.frozen_layers <= C.layers,
                "autodidact: training_policy.frozen_layers must be between 0 and the number of layers.");
  static_assert(!Policy.trainable || Policy.frozen_layers == 0 || Policy.freeze_embeddings,
                "autodidact: freezing blocks but not the embeddings below them is not supported "
                "(the frozen part must be a prefix of the parameter arena).");
  using value_type = typename P::storage_type;
  using compute_type = typename P::compute_type;

  static constexpr parameter_layout<C> parameters = make_parameter_layout<C, value_type>();
  static constexpr std::size_t parameter_elements = parameters.total;
  static constexpr std::size_t parameter_bytes = parameter_elements * sizeof(value_type);

  // Gradients cover the trainable suffix of the parameter arena.
  static constexpr std::size_t first_trainable =
      !Policy.trainable ? parameters.total
      : Policy.frozen_layers > 0
          ? (Policy.frozen_layers == C.layers ? parameters.blocks[C.layers - 1].ff2_bias +
                                                    aligned_count<value_type>(C.d_model)
                                              : parameters.blocks[Policy.frozen_layers].ln1_gain)
      : Policy.freeze_embeddings ? parameters.blocks[0].ln1_gain
                                 : 0;
  static constexpr std::size_t gradient_elements = parameters.total - first_trainable;
  static constexpr std::size_t gradient_bytes = gradient_elements * sizeof(compute_type);
  static constexpr std::size_t moment_elements =
      gradient_elements * static_cast<std::size_t>(Policy.optimizer_moments);
  static constexpr std::size_t moment_bytes = moment_elements * sizeof(compute_type);

  static constexpr activation_layout activations(int batch, int seq) {
    return make_activation_layout<C, compute_type>(batch, seq, Policy.pretraining_heads, Policy.trainable);
  }
  static constexpr std::size_t activation_bytes(int batch, int seq) {
    return activations(batch, seq).total * sizeof(compute_type);
  }
  // Everything a training step at (batch, seq) needs.
  static constexpr std::size_t total_bytes(int batch, int seq) {
    return parameter_bytes + gradient_bytes + moment_bytes + activation_bytes(batch, seq);
  }
};

}  // namespace autodidact::models
