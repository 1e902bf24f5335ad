#pragma once
// What the encoder and the decoder share: the arenas of their memory plan,
// the binding of layer parameters to arena offsets (from the modules'
// tables, module_spec.hpp), input validation, the embeddings, the stack of
// blocks and the final LayerNorm, forward and backward. The encoder (BERT)
// and decoder (GPT-2) compose their heads (heads/) on top.

#include <algorithm>  // for std::fill, std::copy
#include <array>      // for std::array (the packed-weight table)
#include <cmath>      // for std::sqrt (GPT-2's residual initialisation), std::isfinite
#include <cstddef>    // for std::ptrdiff_t
#include <cstdint>    // for std::int32_t, std::uint32_t, std::uint64_t
#include <span>       // for std::span
#include <vector>     // for std::vector

#ifdef _OPENMP
#include <omp.h>  // for omp_get_thread_num, omp_get_num_threads, omp_in_parallel
#endif

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/core/arena.hpp"          // for arena
#include "autodidact/core/error.hpp"          // for require, raise, numeric_error
#include "autodidact/core/rng.hpp"            // for philox_rng
#include "autodidact/core/tensor_view.hpp"    // for tensor_view
#include "autodidact/kernels/gemm.hpp"        // for pack_b, packed_b_elements
#include "autodidact/layers/block.hpp"        // for block_forward, block_backward
#include "autodidact/layers/embedding.hpp"    // for embedding_forward, embedding_backward
#include "autodidact/layers/layernorm.hpp"    // for layernorm_forward
#include "autodidact/models/detail/packed_table.hpp"  // for make_packed_table
#include "autodidact/models/memory_plan.hpp"  // for memory_plan
#include "autodidact/models/workspace.hpp"    // for workspace, batch_input, dropout_options
#include "autodidact/precision.hpp"           // for precision_policy, plain_precision

namespace autodidact::models {

// How a new model's weights are set. By default as Hugging Face's
// _init_weights does for the family: every matrix and embedding table
// N(0, initializer_range), GPT-2's residual projections (attention output
// and second feed-forward matrix) N(0, initializer_range / sqrt(2 L)),
// BERT's padding row (token 0) zero, LayerNorm gains 1, every bias 0. The
// draws are Philox keyed by (seed, tensor, element): the same seed gives
// the same weights on any machine and thread count.
struct init_options {
  std::uint64_t seed = 0;
  double initializer_range = 0.02;  // config.json's initializer_range
  bool zeros = false;               // every parameter 0 (a model about to be loaded)
  // The learned position table starts as the sinusoids of Vaswani et al.
  // (row p: sin(p f_i), cos(p f_i), f_i = 10000^(-2i/E)) scaled so that
  // each element's RMS is initializer_range, instead of random draws: the
  // positions then start with a shared geometry (a fixed offset is one
  // linear map), which a short pretraining run learns to use sooner
  // (docs/pretraining.md). Still a learned table; exports unchanged.
  bool sinusoidal_positions = false;
};

namespace detail {

template <model_config C, precision_policy P, training_policy Policy>
class body {
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
  using workspace_type = workspace<C, P, Policy>;
  static constexpr int E = C.embedding_width();  // the embeddings' width

  // Allocates the parameter arena and the model's own workspace (for
  // batches of up to max_batch sequences of up to max_seq tokens), and
  // initialises the weights (init_options). No allocation after.
  body(int max_batch, int max_seq, const init_options& init = {})
      : params_(plan::parameter_elements, "model: the parameter arena"), ws_(max_batch, max_seq) {
    initialize(init);
  }

  // Sets every parameter as init_options says (see there).
  void initialize(const init_options& o) {
    require(o.initializer_range >= 0.0, "initialize: initializer_range = ", o.initializer_range,
            " must not be negative");
    params_.zero();
    packed_fresh_ = false;
    if (o.zeros) return;
    const philox_rng rng(o.seed, rng_stream::init);
    std::uint32_t tensor = 0;  // the Philox step: one per drawn tensor, in layout order
    auto normal = [&](std::size_t offset, std::size_t n, double sd) {
      T* p = params_.data() + offset;
      const std::uint32_t step = tensor++;
      const std::ptrdiff_t pairs = static_cast<std::ptrdiff_t>((n + 1) / 2);
      kernels::detail::parallel_for(0, pairs, pairs > 65536, [&](std::ptrdiff_t i) {
        const auto z = rng.normal2(step, static_cast<std::uint32_t>(i));
        const std::size_t j = 2 * static_cast<std::size_t>(i);
        p[j] = static_cast<T>(sd * z[0]);
        if (j + 1 < n) p[j + 1] = static_cast<T>(sd * z[1]);
      });
    };
    const double sd = o.initializer_range;
    // GPT-2 scales the projections that add into the residual stream.
    const double residual_sd = family_of(C) == hf_family::gpt2 ? sd / std::sqrt(2.0 * C.layers) : sd;
    // Each parameter as its role in the module's table says (module_spec.hpp).
    layout.for_each_parameter([&](const auto&, std::size_t, const param_spec& spec, std::size_t offset) {
      if (spec.role == param_role::norm_gain) std::fill_n(params_.data() + offset, spec.elements(), T(1));
      if (!drawn(spec.role)) return;  // biases stay 0
      normal(offset, spec.elements(), spec.role == param_role::residual_matrix ? residual_sd : sd);
      if (spec.padding_row >= 0)
        std::fill_n(params_.data() + offset + static_cast<std::size_t>(spec.padding_row) * spec.cols, spec.cols,
                    T(0));
    });
    if (o.sinusoidal_positions) {
      T* table = params_.data() + layout.embeddings[embeddings_module::position];
      const double scale = sd * std::sqrt(2.0);  // sin and cos have RMS 1/sqrt(2)
      for (int p = 0; p < C.max_positions; ++p)
        for (int i = 0; i < E; ++i) {
          const double angle = p * std::pow(10000.0, -2.0 * (i / 2) / E);
          table[std::size_t(p) * E + std::size_t(i)] = static_cast<T>(scale * (i % 2 ? std::cos(angle) : std::sin(angle)));
        }
    }
  }

  // The model's own workspace, used by every call without a workspace
  // argument.
  workspace_type& own_workspace() noexcept { return ws_; }
  const workspace_type& own_workspace() const noexcept { return ws_; }
  int max_batch() const noexcept { return ws_.max_batch(); }
  int max_seq() const noexcept { return ws_.max_seq(); }
  int batch() const noexcept { return ws_.batch(); }
  int seq() const noexcept { return ws_.seq(); }

  // The parameter arena, laid out as memory_plan says. Mutable access
  // marks the packed weights (pack_weights) out of date.
  std::span<T> parameters() noexcept {
    packed_fresh_ = false;
    return params_.span();
  }
  std::span<const T> parameters() const noexcept { return params_.span(); }
  std::span<T> trainable_parameters() noexcept {
    packed_fresh_ = false;
    return params_.span().subspan(plan::first_trainable);
  }
  std::span<const T> trainable_parameters() const noexcept {
    return params_.span().subspan(plan::first_trainable);
  }
  // The own workspace's gradients: the trainable suffix
  // [plan::first_trainable, end) of the parameter arena.
  std::span<T> gradients() noexcept { return ws_.gradients(); }
  std::span<const T> gradients() const noexcept { return ws_.gradients(); }
  void zero_gradients() noexcept { ws_.zero_gradients(); }

  T* parameter_at(std::size_t offset) noexcept {
    packed_fresh_ = false;
    return params_.data() + offset;
  }
  const T* parameter_at(std::size_t offset) const noexcept { return params_.data() + offset; }

  // Packed weights: keep a second copy of every matrix the forward pass
  // multiplies by (QKV, attention output, both feed-forward matrices, the
  // pooler, the MLM transform and the LM head when the model has heads),
  // in the layout the GEMM reads (kernels::pack_b), so forward does not
  // re-pack them on every call. Costs memory the size of those matrices;
  // results are bitwise the same. Worth it for inference at small batches
  // (the packing was a fifth of batch-1 encoder latency).
  // Any mutable access to the parameters (parameters(),
  // trainable_parameters(), parameter_at(), an optimizer step, a checkpoint
  // load) marks the copy out of date; a forward through a non-const model
  // refreshes it first, a forward through a const model (shared by
  // threads) never writes to the model and packs on the fly while the copy
  // is out of date (still correct, slower): call pack_weights() again after
  // changing a model that threads share. Writing through a span obtained
  // *before* the last forward is not seen: call parameters_changed() after.
  void pack_weights() {
    if (!packing_) {
      packed_ = arena<T>(packed_table().total, "pack_weights: the packed weight copy");
      packing_ = true;
    }
    refresh_packed();
  }
  bool packs_weights() const noexcept { return packing_; }
  // Bytes of the parameter arena and of the packed copy (0 before pack_weights()).
  std::size_t parameter_bytes() const noexcept { return params_.size() * sizeof(T); }
  std::size_t packed_weight_bytes() const noexcept { return packing_ ? packed_.size() * sizeof(T) : 0; }
  bool packed_weights_fresh() const noexcept { return packing_ && packed_fresh_; }
  void parameters_changed() noexcept { packed_fresh_ = false; }
  // The own workspace's gradient of the parameter at `offset`, or null
  // when it is frozen.
  T* gradient_at(std::size_t offset) noexcept { return gradient_at(ws_, offset); }

  void set_dropout(const dropout_options& o) { ws_.set_dropout(o); }
  void set_training(bool on) noexcept { ws_.set_training(on); }
  void set_step(std::uint32_t step) noexcept { ws_.set_step(step); }
  // The own workspace's output check (workspace::set_check_finite).
  void set_check_finite(bool on) noexcept { ws_.set_check_finite(on); }

  // Hidden states of the last forward: 0 = the embeddings (after the
  // embedding LayerNorm in a post-LN model), l = the output of block l-1.
  // [B, T, C]
  tensor_view<const T, 3> hidden_state(int index) const { return hidden_state(ws_, index); }
  tensor_view<const T, 3> hidden_state(const workspace_type& w, int index) const {
    require_forward(w, "hidden_state");
    require(index >= 0 && index <= C.layers, "hidden_state: index ", index, " must be in [0, ", C.layers,
            "]");
    require(Policy.trainable || index >= C.layers - 1,
            "hidden_state: an inference-only model keeps only the last ", "two blocks' outputs (index ",
            C.layers - 1, " or ", C.layers, "), not index ", index);
    return {hidden_ptr(w, index), {w.batch_, w.seq_, C.d_model}};
  }

  // The body's output [B, T, C] of the last forward: the last block's, or
  // the final LayerNorm's in a config with one (GPT-2's last hidden state).
  tensor_view<const T, 3> hidden(const workspace_type& w) const {
    require_forward(w, "hidden");
    return {top(w), {w.batch_, w.seq_, C.d_model}};
  }
  tensor_view<const T, 3> hidden() const { return hidden(ws_); }

  // For task heads: a zeroed d hidden() [B·T, C] to add into, after a
  // forward that no backward has consumed; the encoder's
  // backward_from_pooled / the decoder's backward_from_final then
  // propagate it into the body.
  T* begin_backward(workspace_type& w) const {
    require_unconsumed_forward(w, "begin_backward");
    T* d = top_gradient(w);
    layers::detail::zero(std::ptrdiff_t(w.batch_) * w.seq_ * C.d_model, d);
    return d;
  }
  T* begin_backward() { return begin_backward(ws_); }

  // The own workspace's observer (workspace::observe_hidden_gradients).
  using hidden_gradient_observer = typename workspace_type::hidden_gradient_observer;
  void observe_hidden_gradients(hidden_gradient_observer observer, void* context = nullptr) noexcept {
    ws_.observe_hidden_gradients(observer, context);
  }

 protected:
  using stage = typename workspace_type::stage;
  static constexpr const char* order = " (the order is forward(), a loss, backward())";
  static void require_forward(const workspace_type& w, const char* what) {
    require(w.stage_ != stage::empty, what, ": no forward() has run yet", order);
  }
  // A loss needs a forward whose activations backward has not consumed.
  static void begin_loss(workspace_type& w, const char* what) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what,
            ": backward() has run since the last forward(); call forward() again", order);
    w.stage_ = stage::loss_ready;
  }
  // backward needs a loss of the current forward, and runs once per forward.
  static void require_loss(const workspace_type& w, const char* what, const char* loss_name) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what, ": already ran for this forward(); a second backward would add ",
            "the gradients again. Call forward() and ", loss_name, " again", order);
    require(w.stage_ == stage::loss_ready, what, ": call ", loss_name, " after forward() first", order);
  }
  // A task head's backward (begin_backward): a forward not yet consumed.
  static void require_unconsumed_forward(const workspace_type& w, const char* what) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what,
            ": backward() already ran for this forward(); call forward() again", order);
  }
  static void mark_backward_done(workspace_type& w) noexcept { w.stage_ = stage::backwarded; }

  static void notify_hidden_gradient(const workspace_type& w, int index, const T* gradient) {
    if (w.grad_observer_) w.grad_observer_(w.grad_observer_context_, index, gradient);
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
  layers::layernorm_params<T> layernorm_at(std::size_t gain, std::size_t bias, int width = C.d_model) const {
    return {parameter_at(gain), parameter_at(bias), width, static_cast<T>(C.layer_norm_eps)};
  }
  static layers::layernorm_grads<T> layernorm_grads_at(workspace_type& w, std::size_t gain, std::size_t bias) {
    return {gradient_at(w, gain), gradient_at(w, bias)};
  }
  layers::linear_params<T> linear_at(std::size_t weight, std::size_t bias, int in, int out) const {
    return {parameter_at(weight), bias == npos ? nullptr : parameter_at(bias), in, out,
            packed_for(weight)};
  }
  static layers::linear_grads<T> linear_grads_at(workspace_type& w, std::size_t weight, std::size_t bias) {
    return {gradient_at(w, weight), gradient_at(w, bias)};
  }

  // Which matrices pack_weights() packs (detail/packed_table.hpp).
  static constexpr auto packed_table() { return make_packed_table<C, Policy, plan, T>(); }
  // The packed copy of the matrix at `weight`, or null (not packing, not
  // packed, or out of date: forward then packs on the fly, still correct).
  const T* packed_for(std::size_t weight) const noexcept {
    if (!packing_ || !packed_fresh_) return nullptr;
    constexpr auto t = packed_table();
    for (int i = 0; i < t.count; ++i)
      if (t.entries[static_cast<std::size_t>(i)].weight == weight)
        return packed_.data() + t.entries[static_cast<std::size_t>(i)].packed;
    return nullptr;
  }
  void refresh_packed() {
    constexpr auto t = packed_table();
    kernels::detail::parallel_for(0, t.count, true, [&](int i) {
      const packed_entry& e = t.entries[static_cast<std::size_t>(i)];
      kernels::pack_b(kernels::transpose::yes, e.in, e.out, params_.data() + e.weight, e.in,
                      packed_.data() + e.packed);
    });
    packed_fresh_ = true;
  }
  // Before a forward through a non-const model: bring the packed copy up
  // to date (a const forward cannot).
  void refresh_packed_if_stale() {
    if (packing_ && !packed_fresh_) refresh_packed();
  }

  layers::block_params<T> block_params_of(int l) const {
    using bm = block_module;
    const module_offsets<bm>& b = layout.blocks[static_cast<std::size_t>(l)];
    layers::block_params<T> p;
    p.ln1 = layernorm_at(b[bm::ln1_gain], b[bm::ln1_bias]);
    p.ln2 = layernorm_at(b[bm::ln2_gain], b[bm::ln2_bias]);
    p.attention.qkv = linear_at(b[bm::qkv_weight], b[bm::qkv_bias], C.d_model, 3 * C.d_model);
    p.attention.proj = linear_at(b[bm::proj_weight], b[bm::proj_bias], C.d_model, C.d_model);
    p.attention.heads = C.heads;
    p.attention.causal = C.attention == attention_kind::causal;
    p.ff.in = linear_at(b[bm::ff1_weight], b[bm::ff1_bias], C.d_model, C.d_ff);
    p.ff.out = linear_at(b[bm::ff2_weight], b[bm::ff2_bias], C.d_ff, C.d_model);
    p.ff.gelu = C.gelu;
    p.norm = C.norm;
    return p;
  }
  static layers::block_grads<T> block_grads_of(workspace_type& w, int l) {
    using bm = block_module;
    const module_offsets<bm>& b = layout.blocks[static_cast<std::size_t>(l)];
    layers::block_grads<T> g;
    g.ln1 = layernorm_grads_at(w, b[bm::ln1_gain], b[bm::ln1_bias]);
    g.ln2 = layernorm_grads_at(w, b[bm::ln2_gain], b[bm::ln2_bias]);
    g.attention.qkv = linear_grads_at(w, b[bm::qkv_weight], b[bm::qkv_bias]);
    g.attention.proj = linear_grads_at(w, b[bm::proj_weight], b[bm::proj_bias]);
    g.ff.in = linear_grads_at(w, b[bm::ff1_weight], b[bm::ff1_bias]);
    g.ff.out = linear_grads_at(w, b[bm::ff2_weight], b[bm::ff2_bias]);
    return g;
  }
  static layers::block_scratch<T> scratch(workspace_type& w) {
    const auto& a = w.al_;
    return {w.act(a.scratch_c0),    w.act(a.scratch_c1),    w.act(a.scratch_c2),
            w.act(a.scratch_c3),    w.act(a.scratch_qkv),   w.act(a.scratch_f),
            w.act(a.scratch_probs), w.act(a.scratch_small), w.act(a.scratch_small) + std::max(C.d_model, E)};
  }

  layers::embedding_params<T> embedding_params() const {
    using em = embeddings_module;
    return {parameter_at(layout.embeddings[em::token]),
            parameter_at(layout.embeddings[em::position]),
            C.type_vocab > 0 ? parameter_at(layout.embeddings[em::segment]) : nullptr,
            C.vocab,
            C.max_positions,
            C.type_vocab,
            E};
  }
  layers::layernorm_params<T> embedding_norm() const {
    return layernorm_at(layout.embeddings[embeddings_module::norm_gain],
                        layout.embeddings[embeddings_module::norm_bias], E);
  }
  // Factorised embeddings' Linear(E → C).
  layers::linear_params<T> embedding_projection() const {
    using pm = embedding_projection_module;
    return linear_at(layout.embedding_projection[pm::weight], layout.embedding_projection[pm::bias], E, C.d_model);
  }
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


  // Embeddings (+ embedding LayerNorm for post-LN), all blocks, and the
  // final LayerNorm when the config has one.
  void body_forward(workspace_type& w, const batch_input& in) const {
    stack_forward(w, in);
    if constexpr (C.final_norm) {
      layers::layernorm_forward(final_norm_params(), w.batch_ * w.seq_, hidden_ptr(w, C.layers),
                                w.act(w.al_.final_ln), {w.act(w.al_.final_mean), w.act(w.al_.final_rstd)});
      if (w.check_finite_) check_output(w, -1, w.act(w.al_.final_ln));
    }
  }

  // workspace::set_check_finite: the first element of an [N, C] output
  // that is NaN or infinite in rows [r0, r1), or -1.
  static std::ptrdiff_t first_non_finite(const T* x, int r0, int r1) {
    const std::ptrdiff_t e = std::ptrdiff_t(r1) * C.d_model;
    for (std::ptrdiff_t i = std::ptrdiff_t(r0) * C.d_model; i < e; ++i) {
      if (!std::isfinite(static_cast<double>(x[i]))) return i;
    }
    return -1;
  }
  // Raises numeric_error for element i of the output of layer `index`
  // (0: the embeddings, l + 1: block l, -1: the final LayerNorm).
  [[noreturn]] static void non_finite_output(const workspace_type& w, int index, std::ptrdiff_t i, double value) {
    const std::ptrdiff_t c = i % C.d_model, t = i / C.d_model % w.seq_, b = i / C.d_model / w.seq_;
    const char* kind = std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf");
    if (index == 0) {
      raise<numeric_error>("forward (check_finite): the embeddings' output (hidden state 0) holds ", kind,
                           " at [sequence ", b, ", position ", t, ", channel ", c, "]");
    }
    if (index > 0) {
      raise<numeric_error>("forward (check_finite): the output of block ", index - 1, " (of ", C.layers,
                           "; hidden state ", index, ") holds ", kind, " at [sequence ", b, ", position ", t,
                           ", channel ", c, "]; the layers before it gave finite outputs");
    }
    raise<numeric_error>("forward (check_finite): the final LayerNorm's output holds ", kind, " at [sequence ", b,
                         ", position ", t, ", channel ", c, "]; the blocks before it gave finite outputs");
  }
  static void check_output(const workspace_type& w, int index, const T* x) {
    const std::ptrdiff_t i = first_non_finite(x, 0, w.batch_ * w.seq_);
    if (i >= 0) non_finite_output(w, index, i, static_cast<double>(x[i]));
  }

  // The body's output [N, C]: the final LayerNorm's when the config has
  // one, else the last block's.
  static const T* top(const workspace_type& w) {
    if constexpr (C.final_norm) return w.act(w.al_.final_ln);
    return hidden_ptr(w, C.layers);
  }
  layers::layernorm_params<T> final_norm_params() const {
    return layernorm_at(layout.final_norm[final_norm_module::gain], layout.final_norm[final_norm_module::bias]);
  }

  void stack_forward(workspace_type& w, const batch_input& in) const {
    w.accept(in);
    w.stage_ = stage::forwarded;
    const int n = w.batch_ * w.seq_;
    T* emb = w.act(w.al_.embeddings);
    layers::embedding_forward(embedding_params(), embedding_input(w), emb);
    const T* x = emb;
    if constexpr (C.embedding_norm) {
      layers::layernorm_forward(embedding_norm(), n, emb, w.act(w.al_.embedding_ln),
                                {w.act(w.al_.embedding_mean), w.act(w.al_.embedding_rstd)});
      x = w.act(w.al_.embedding_ln);
    }
    layers::dropout_apply(dropout_site_for(w, 1, w.dropout_.hidden), std::ptrdiff_t(n) * E, const_cast<T*>(x));
    if constexpr (C.factorised_embeddings()) {
      layers::linear_forward(embedding_projection(), n, x, w.act(w.al_.embedding_projected));
      x = w.act(w.al_.embedding_projected);
    }
    const bool check = w.check_finite_;
    if (check) check_output(w, 0, x);
    const int threads = team_threads(n);
    if (threads <= 1) {
      for (int l = 0; l < C.layers; ++l) {
        const auto cache = block_cache_of(w, l);
        layers::block_forward(block_params_of(l), shape(w), x, cache, block_dropout_of(w, l));
        x = cache.output(C.norm);
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
    constexpr int mr = kernels::detail::gemm_blocking<T>::mr;
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
        const auto params = block_params_of(l);
        const auto drop = block_dropout_of(w, l);
        layers::block_forward_before_heads(params, r0, r1, xl, cache);
#pragma omp barrier
        layers::attention_heads_forward(params.attention, shape(w), cache.attention, drop.attention,
                                        /*team=*/true);
        layers::block_forward_after_heads(params, r0, r1, xl, cache, drop);
        xl = cache.output(C.norm);
        if (check && l < my_bad_layer) {  // each thread scans until its own first finding
          const std::ptrdiff_t i = first_non_finite(xl, r0, r1);
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
    if (bad_layer < C.layers) non_finite_output(w, bad_layer + 1, bad_index, bad_value);
#endif
  }

  // Threads for the forward team: all of OpenMP's when a block's work is
  // worth splitting (the GEMM's own threshold, per layer) and there are at
  // least two row tiles per thread... else 1 (the kernels then decide alone).
  static int team_threads(int n) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
    const double work = double(n) * C.d_model * (4.0 * C.d_model + 2.0 * C.d_ff);
    if (work < kernels::detail::gemm_packed_parallel_work) return 1;
    constexpr int mr = kernels::detail::gemm_blocking<T>::mr;
    const int tiles = (n + mr - 1) / mr;
    return std::max(1, std::min(omp_get_max_threads(), tiles / 2));
#else
    (void)n;
    return 1;
#endif
  }

  // The gradient buffer the heads write d top() [N, C] into (with a final
  // LayerNorm, the slot its backward reads before the stack reuses it).
  static T* top_gradient(workspace_type& w) noexcept {
    return w.act(C.final_norm ? w.al_.grad_b : w.al_.grad_a);
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
      layers::layernorm_backward(final_norm_params(),
                                 layernorm_grads_at(w, layout.final_norm[final_norm_module::gain],
                                                    layout.final_norm[final_norm_module::bias]),
                                 n, hidden_ptr(w, C.layers), {w.act(w.al_.final_mean), w.act(w.al_.final_rstd)},
                                 dx, dy, sc.gain, sc.bias);
    }
    notify_hidden_gradient(w, C.layers, dy);
    for (int l = C.layers - 1; l >= 0; --l) {
      layers::detail::zero(nc, dx);
      layers::block_backward(block_params_of(l), block_grads_of(w, l), shape(w), hidden_ptr(w, l),
                             block_cache_of(w, l), dy, dx, scratch(w), block_dropout_of(w, l));
      std::swap(dx, dy);
      notify_hidden_gradient(w, l, dy);
    }
    // dy now holds d(hidden state 0); with factorised embeddings, through
    // the projection into the E-wide buffers.
    const std::ptrdiff_t ne = std::ptrdiff_t(n) * E;
    if constexpr (C.factorised_embeddings()) {
      using pm = embedding_projection_module;
      T* d_out = w.act(w.al_.grad_embedding_a);
      layers::detail::zero(ne, d_out);
      layers::linear_backward(embedding_projection(),
                              linear_grads_at(w, layout.embedding_projection[pm::weight],
                                              layout.embedding_projection[pm::bias]),
                              n, embedding_output(w), dy, d_out);
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
      layers::layernorm_backward(embedding_norm(),
                                 layernorm_grads_at(w, layout.embeddings[embeddings_module::norm_gain],
                                                    layout.embeddings[embeddings_module::norm_bias]),
                                 n, w.act(w.al_.embeddings), {w.act(w.al_.embedding_mean), w.act(w.al_.embedding_rstd)},
                                 dy, d_sum, sc.gain, sc.bias);
      d_emb = d_sum;
    }
    using em = embeddings_module;
    layers::embedding_grads<T> eg{gradient_at(w, layout.embeddings[em::token]),
                                  gradient_at(w, layout.embeddings[em::position]),
                                  C.type_vocab > 0 ? gradient_at(w, layout.embeddings[em::segment]) : nullptr};
    layers::embedding_backward(embedding_params(), eg, embedding_input(w), d_emb);
  }

  arena<T> params_;
  arena<T> packed_;  // pack_weights(): see packed_table()
  bool packing_ = false, packed_fresh_ = false;
  workspace_type ws_;  // the model's own (own_workspace())
};

}  // namespace detail
}  // namespace autodidact::models
