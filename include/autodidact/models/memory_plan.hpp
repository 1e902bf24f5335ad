#pragma once
// The memory plan of a model: where every parameter, gradient, optimizer
// moment and activation lives in its flat arena. Sizes and offsets are
// constexpr functions of (config, precision, training policy) and, for
// activations, of (batch, sequence). Each tensor starts on a 64-byte
// boundary, so kernels may use aligned loads at tensor starts.
//
// Parameters come from the modules' tables (models/module_spec.hpp), in
// this order (also the order a frozen prefix is cut from):
//   embeddings (token [V,E], position [P,E], segment [S,E], embedding LN [E];
//   E = embedding_width()), their projection [C,E] when factorised
//   blocks 0 .. L-1
//   final LayerNorm (pre-LN models), pooler (encoders with one)
//   the heads (heads/): MLM transform + LN + output bias (tied decoder),
//   next-sentence [2,C] (with a pooler); untied LM head [V,C].

#include <algorithm>    // for std::max
#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int32_t
#include <tuple>        // for std::tuple, std::apply, std::get
#include <type_traits>  // for std::conditional_t, std::is_same_v

#include "autodidact/config.hpp"      // for model_config, check_config
#include "autodidact/core/arena.hpp"  // for aligned_count, arena_alignment
#include "autodidact/heads/lm.hpp"    // for heads::lm_head
#include "autodidact/heads/mlm.hpp"   // for heads::mlm_head
#include "autodidact/heads/nsp.hpp"   // for heads::nsp_head
#include "autodidact/models/module_spec.hpp"  // for module_offsets, head_list
#include "autodidact/models/modules.hpp"      // for embeddings_module, block_module, ...
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

// The heads a model type composes by default: BertForPreTraining's (MLM,
// and NSP when the config has a pooler) or GPT2LMHeadModel's LM head.
template <model_config C>
using default_heads = std::conditional_t<family_of(C) == hf_family::bert,
                                         head_list<heads::mlm_head, heads::nsp_head>, head_list<heads::lm_head>>;

// Where every parameter lives: one module_offsets per module instance, in
// arena order (embeddings, their projection, blocks 0 .. L-1, final LayerNorm, pooler, then
// the heads). Built from the modules' tables by make_parameter_layout.
//   layout.blocks[2][block_module::qkv_weight]    offset of block 2's QKV weight
//   layout.head<heads::mlm_head>()[heads::mlm_head::output_bias]
template <model_config C, class Heads = default_heads<C>>
struct parameter_layout;

template <model_config C, class... Heads>
struct parameter_layout<C, head_list<Heads...>> {
  using heads_type = head_list<Heads...>;
  static constexpr std::size_t npos = models::npos;
  module_offsets<embeddings_module> embeddings{};
  module_offsets<embedding_projection_module> embedding_projection{};  // factorised embeddings only
  std::array<module_offsets<block_module>, C.layers> blocks{};
  module_offsets<final_norm_module> final_norm{};
  module_offsets<pooler_module> pooler{};
  std::tuple<module_offsets<Heads>...> heads{};
  std::size_t body_end = 0;         // end of the body (embeddings, blocks, final LN, pooler)
  std::size_t total = 0;            // elements including alignment padding
  std::size_t real_parameters = 0;  // elements excluding padding

  template <class H>
  static constexpr bool has_head = (std::is_same_v<H, Heads> || ...);
  // H's position in the head list (its workspace in activation_layout::heads).
  template <class H>
  static constexpr std::size_t head_index = [] {
    std::size_t i = 0, found = sizeof...(Heads);
    ((std::is_same_v<H, Heads> ? found = i++ : i++), ...);
    return found;
  }();
  template <class H>
  constexpr const module_offsets<H>& head() const noexcept {
    return std::get<module_offsets<H>>(heads);
  }
  template <class H>
  constexpr module_offsets<H>& head() noexcept {
    return std::get<module_offsets<H>>(heads);
  }
  // f(offsets) for every module instance in arena order (absent ones too:
  // offsets.present says).
  template <class F>
  constexpr void for_each_module(F&& f) const {
    f(embeddings);
    f(embedding_projection);
    for (const auto& b : blocks) f(b);
    f(final_norm);
    f(pooler);
    std::apply([&](const auto&... h) { (f(h), ...); }, heads);
  }
  template <class F>
  constexpr void for_each_module(F&& f) {
    f(embeddings);
    f(embedding_projection);
    for (auto& b : blocks) f(b);
    f(final_norm);
    f(pooler);
    std::apply([&](auto&... h) { (f(h), ...); }, heads);
  }
  // f(offsets, index in the module's table, spec, offset) for every
  // parameter present, in arena order.
  template <class F>
  constexpr void for_each_parameter(F&& f) const {
    for_each_module([&](const auto& m) {
      using M = typename std::remove_cvref_t<decltype(m)>::module;
      const auto specs = M::parameters(C);
      for (std::size_t i = 0; i < M::count; ++i)
        if (m.at[i] != npos) f(m, i, specs[i], m.at[i]);
    });
  }
};

// Builds the layout for element type T (padding depends on sizeof(T)):
// each present parameter starts on a 64-byte boundary.
template <model_config C, class T, class Heads = default_heads<C>>
constexpr parameter_layout<C, Heads> make_parameter_layout() {
  static_assert(check_config<C>());
  parameter_layout<C, Heads> p{};
  std::size_t at = 0, real = 0;
  int index = 0;
  p.for_each_module([&](auto& m) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    m.index = M::is_head ? 0 : (std::is_same_v<M, block_module> ? index++ : 0);
    m.begin = at;
    const auto specs = M::parameters(C);
    for (std::size_t i = 0; i < M::count; ++i) {
      if (!specs[i].present()) continue;
      m.at[i] = at;
      m.present = true;
      at += aligned_count<T>(specs[i].elements());
      real += specs[i].elements();
    }
    m.end = at;
    if (std::is_same_v<M, pooler_module>) p.body_end = at;
  });
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

template <std::size_t Heads>
struct activation_layout {
  std::size_t embeddings;             // [N, E] sum of token, position, segment embeddings
  std::size_t embedding_ln, embedding_mean, embedding_rstd;  // [N, E], [N], [N] (post-LN)
  std::size_t embedding_projected;    // [N, C] factorised embeddings projected (else empty)
  std::size_t grad_embedding_a, grad_embedding_b;  // [N, E] backward below the projection (factorised)
  std::size_t blocks;                 // block_slots consecutive blocks of block_activations::size
  int block_slots;                    // L when training; 2 for inference (block l uses slot l % 2)
  block_activations block;            // offsets inside one block
  std::size_t final_ln, final_mean, final_rstd;  // [N, C], [N], [N]
  std::size_t pooled_input, pooled;   // [B, C]: h[CLS], tanh(W h + b)
  std::array<std::size_t, Heads> heads;  // each head's workspace (its workspace_elements; none without heads)
  std::size_t grad_a, grad_b;         // [N, C] gradients flowing down the block stack
  std::size_t scratch_c0, scratch_c1, scratch_c2, scratch_c3;  // [N, C] backward scratch (c1, c2: [N, max(C, E)])
  std::size_t scratch_qkv;            // [N, 3C]
  std::size_t scratch_f;              // [N, F]
  std::size_t scratch_probs;          // [B, H, T, T]
  std::size_t scratch_small;          // [max(C, E)] sinks for frozen LayerNorm gradients (x2)
  std::size_t total;
};

// Activation layout for `batch` sequences of `seq` tokens, element type T,
// with the workspaces of the heads in Heads when `heads` is set.
template <model_config C, class T, class Heads = default_heads<C>>
constexpr activation_layout<Heads::size> make_activation_layout(int batch, int seq, bool heads = true,
                                                                bool train = true) {
  activation_layout<Heads::size> a{};
  const std::size_t n = static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq);
  const std::size_t c = C.d_model, f = C.d_ff, h = C.heads;
  const std::size_t tt = static_cast<std::size_t>(batch) * h * static_cast<std::size_t>(seq) * seq;
  std::size_t at = 0;
  auto take = [&](std::size_t count) {
    const std::size_t start = at;
    at += aligned_count<T>(count);
    return start;
  };
  const std::size_t e = static_cast<std::size_t>(C.embedding_width()), ce = std::max(c, e);
  const bool factorised = C.factorised_embeddings();
  a.embeddings = take(n * e);
  a.embedding_ln = take(n * e);
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
  [&]<class... H>(head_list<H...>) {  // each head declares its own workspace
    std::size_t i = 0;
    ((a.heads[i++] = at, at += heads ? H::template workspace_elements<T>(C, batch * seq, batch) : 0), ...);
  }(Heads{});
  const std::size_t bn = train ? n : 0;  // backward buffers (none for inference)
  a.grad_a = take(bn * c);
  a.grad_b = take(bn * c);
  a.scratch_c0 = take(std::max(bn * c, static_cast<std::size_t>(batch) * c));  // also the pooler's [B, C]
  a.scratch_c1 = take(std::max(bn * ce, static_cast<std::size_t>(batch) * c));
  a.scratch_c2 = take(std::max(bn * ce, static_cast<std::size_t>(batch) * c));
  a.scratch_c3 = take(bn * c);
  a.scratch_qkv = take(3 * bn * c);
  a.scratch_f = take(bn * f);
  a.scratch_probs = take(train ? tt : 0);
  a.scratch_small = take(2 * ce);
  a.embedding_projected = take(factorised ? n * c : 0);
  a.grad_embedding_a = take(factorised ? bn * e : 0);
  a.grad_embedding_b = take(factorised ? bn * e : 0);
  a.total = at;
  return a;
}

// The whole plan of a model type: the numbers a user needs to size memory.
// A range of the trainable arena (offsets relative to plan::first_trainable)
// whose tensors all do or all do not take weight decay (module_spec.hpp's
// roles): the optimizer's parameter groups.
struct decay_range {
  std::size_t begin = 0, count = 0;
  bool decay = false;
  friend constexpr bool operator==(const decay_range&, const decay_range&) = default;
};

// The arenas of one workspace (models/workspace.hpp) for batches of up to
// B sequences of up to T tokens, laid out one after another in a single
// block of memory (borrowed_arenas) with every arena starting on an
// arena_alignment boundary: the activations, the gradients of the trainable
// parameters, the per-token losses [B·T], then the int32 arena (ids,
// segments, positions, token targets [B·T] each, lengths and sequence
// targets [B] each, gathered rows [B·T]).
struct workspace_memory {
  std::size_t activation_elements = 0, gradient_elements = 0, loss_elements = 0, int_elements = 0;
  std::size_t activation_offset = 0, gradient_offset = 0, loss_offset = 0, int_offset = 0;  // bytes
  std::size_t bytes = 0;                                                                    // the whole block
};

// n bytes rounded up to the next arena_alignment boundary.
constexpr std::size_t aligned_bytes(std::size_t n) {
  return (n + arena_alignment - 1) / arena_alignment * arena_alignment;
}

template <model_config C, precision_policy P, training_policy Policy = full_training,
          class Heads = default_heads<C>>
struct memory_plan {
  static_assert(check_config<C>());
  static_assert(Policy.frozen_layers >= 0 && Policy.frozen_layers <= C.layers,
                "autodidact: training_policy.frozen_layers must be between 0 and the number of layers.");
  static_assert(!Policy.trainable || Policy.frozen_layers == 0 || Policy.freeze_embeddings,
                "autodidact: freezing blocks but not the embeddings below them is not supported "
                "(the frozen part must be a prefix of the parameter arena).");
  using value_type = typename P::storage_type;
  using compute_type = typename P::compute_type;
  using layout_type = parameter_layout<C, Heads>;

  static constexpr layout_type parameters = make_parameter_layout<C, value_type, Heads>();
  static constexpr std::size_t parameter_elements = parameters.total;
  static constexpr std::size_t parameter_bytes = parameter_elements * sizeof(value_type);

  // Gradients cover the trainable suffix of the parameter arena.
  static constexpr std::size_t first_trainable =
      !Policy.trainable            ? parameters.total
      : Policy.frozen_layers > 0   ? parameters.blocks[Policy.frozen_layers - 1].end
      : Policy.freeze_embeddings   ? parameters.embedding_projection.end
                                   : 0;
  static constexpr std::size_t gradient_elements = parameters.total - first_trainable;
  static constexpr std::size_t gradient_bytes = gradient_elements * sizeof(compute_type);
  static constexpr std::size_t moment_elements =
      gradient_elements * static_cast<std::size_t>(Policy.optimizer_moments);
  static constexpr std::size_t moment_bytes = moment_elements * sizeof(compute_type);

  // The weight-decay groups of the trainable arena: consecutive ranges that
  // cover it, alternating decayed (matrices, embeddings) and not (biases,
  // LayerNorm parameters). Padding goes with the tensor before it.
 private:
  template <class Emit>
  static constexpr void walk_decay(Emit&& emit) {
    std::size_t begin = first_trainable;
    bool decay = false, open = false;
    parameters.for_each_parameter([&](const auto&, std::size_t, const param_spec& spec, std::size_t offset) {
      if (offset < first_trainable) return;
      const bool d = decays(spec.role);
      if (open && d != decay) {
        emit(decay_range{begin - first_trainable, offset - begin, decay});
        begin = offset;
      }
      decay = d;
      open = true;
    });
    if (open) emit(decay_range{begin - first_trainable, parameters.total - begin, decay});
  }
  static constexpr std::size_t count_decay_ranges() {
    std::size_t n = 0;
    walk_decay([&](const decay_range&) { ++n; });
    return n;
  }

 public:
  static constexpr std::array<decay_range, count_decay_ranges()> decay_groups = [] {
    std::array<decay_range, count_decay_ranges()> a{};
    std::size_t i = 0;
    walk_decay([&](const decay_range& r) { a[i++] = r; });
    return a;
  }();

  static constexpr activation_layout<Heads::size> activations(int batch, int seq) {
    return make_activation_layout<C, compute_type, Heads>(batch, seq, Policy.pretraining_heads, Policy.trainable);
  }
  static constexpr std::size_t activation_bytes(int batch, int seq) {
    return activations(batch, seq).total * sizeof(compute_type);
  }
  // A workspace's arenas for batches of up to batch x seq tokens (see
  // workspace_memory); the value and int32 element types are the compute
  // type's and std::int32_t.
  static constexpr workspace_memory workspace_arenas(int batch, int seq) {
    workspace_memory m;
    const std::size_t tokens = static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq);
    m.activation_elements = activations(batch, seq).total;
    m.gradient_elements = gradient_elements;
    m.loss_elements = tokens;
    m.int_elements = 5 * tokens + 2 * static_cast<std::size_t>(batch);
    m.activation_offset = 0;
    m.gradient_offset = aligned_bytes(m.activation_elements * sizeof(compute_type));
    m.loss_offset = m.gradient_offset + aligned_bytes(m.gradient_elements * sizeof(compute_type));
    m.int_offset = m.loss_offset + aligned_bytes(m.loss_elements * sizeof(compute_type));
    m.bytes = m.int_offset + aligned_bytes(m.int_elements * sizeof(std::int32_t));
    return m;
  }
  static constexpr std::size_t workspace_bytes(int batch, int seq) { return workspace_arenas(batch, seq).bytes; }
  // A model's memory: its parameter arena, then its own workspace.
  static constexpr std::size_t model_bytes(int batch, int seq) {
    return aligned_bytes(parameter_bytes) + workspace_bytes(batch, seq);
  }

  // Everything a training step at (batch, seq) needs.
  static constexpr std::size_t total_bytes(int batch, int seq) {
    return parameter_bytes + gradient_bytes + moment_bytes + activation_bytes(batch, seq);
  }
};

}  // namespace autodidact::models
