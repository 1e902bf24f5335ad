#pragma once
// What the encoder and the decoder share, composed of one part per job:
//   binding.hpp           the parameter arena, its packed copy and the views
//                         each layer call gets (parameters, gradients, caches)
//   packed_weights.hpp    the packed copy of the weights (pack_weights())
//   batch_validation.hpp  the checks of the batch, of the order of calls and
//                         of finite outputs
//   block_stack.hpp       the embeddings, the stack of blocks and the final
//                         LayerNorm, forward and backward
// and here: the model's construction and initialisation, its own workspace
// and the public calls the encoder (BERT) and decoder (GPT-2) share; they
// compose their heads (heads/) on top.

#include <algorithm>  // for std::fill_n
#include <concepts>  // for std::same_as
#include <cmath>    // for std::sqrt, std::pow, std::sin, std::cos, std::isfinite (initialisation)
#include <cstddef>  // for std::size_t, std::ptrdiff_t
#include <cstdint>  // for std::uint32_t, std::uint64_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                          // for model_config
#include "autodidact/core/error.hpp"                      // for require
#include "autodidact/core/rng.hpp"                        // for philox_rng
#include "autodidact/core/tensor_view.hpp"                // for tensor_view
#include "autodidact/core/threading.hpp"                  // for detail::parallel_for, init_parallel_pairs
#include "autodidact/layers/block.hpp"                    // for layers::detail::zero
#include "autodidact/models/detail/batch_validation.hpp"  // for call_order, batch_input
#include "autodidact/models/detail/block_stack.hpp"       // for block_stack
#include "autodidact/models/memory_plan.hpp"              // for memory_plan, training_policy, aligned_bytes
#include "autodidact/models/storage.hpp"                  // for heap_arenas, borrowed_arenas, static_arenas
#include "autodidact/models/workspace.hpp"                // for workspace, dropout_options
#include "autodidact/precision.hpp"                       // for precision_policy

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
  // The MLM head's output bias (the decoder's bias over the vocabulary)
  // starts as this log prior, one entry per token (e.g. the log of each
  // token's add-one smoothed training-text frequency), minus its mean,
  // instead of 0: the head then predicts the unigram distribution from the
  // first step instead of spending the first thousand steps learning it
  // (docs/pretraining.md: 0.04 nat better after 6,000 steps of the demo).
  // Empty: zeros. Needs a model with an MLM head and vocab entries.
  std::span<const double> output_log_prior{};
};

namespace detail {

template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class body : public block_stack<C, P, Policy, Storage>, protected call_order<workspace<C, P, Policy, Storage>> {
  using base = block_stack<C, P, Policy, Storage>;
  using checks = call_order<workspace<C, P, Policy, Storage>>;

 public:
  using typename base::value_type;
  using typename base::T;
  using typename base::plan;
  using base::config;
  using base::policy;
  using typename base::layout_type;
  using base::layout;
  using typename base::heads_type;
  using typename base::workspace_type;
  using base::E;

  using typename base::storage_policy;
  // The packed weight copy's type (packed_weights.hpp).
  using packed_type = detail::packed_weights<C, P, Policy, Storage>;

  // Makes the parameter arena and the model's own workspace (for batches of
  // up to max_batch sequences of up to max_seq tokens), and initialises the
  // weights (init_options). No allocation after. With heap_arenas (the
  // default) both are allocated here; with static_arenas<B, S> they are
  // inside the object (max_batch ≤ B, max_seq ≤ S).
  body(int max_batch, int max_seq, const init_options& init = {}) requires(!std::same_as<Storage, borrowed_arenas>)
      : ws_(max_batch, max_seq) {
    initialize(init);
  }
  // static_arenas<B, S>: for batches of up to B sequences of up to S tokens.
  explicit body(const init_options& init = {}) requires is_static_arenas_v<Storage> : ws_() { initialize(init); }
  // borrowed_arenas: both in `memory`, which the caller keeps alive as long
  // as the model: bytes_for(max_batch, max_seq) bytes from a 64-byte
  // boundary (invalid_argument naming both sizes otherwise), the parameter
  // arena first.
  body(std::span<std::byte> memory, int max_batch, int max_seq, const init_options& init = {})
    requires std::same_as<Storage, borrowed_arenas>
      : base(parameter_memory(memory, max_batch, max_seq)),
        ws_(memory.subspan(aligned_bytes(plan::parameter_bytes)), max_batch, max_seq) {
    initialize(init);
  }

  // Bytes a model for batches of up to max_batch x max_seq tokens keeps in
  // its arenas (memory_plan::model_bytes: the parameters and its own
  // workspace): what borrowed_arenas needs, and (about) sizeof a model with
  // static_arenas<max_batch, max_seq>. The packed weight copy
  // (pack_weights(), packed_bytes) comes on top.
  static constexpr std::size_t bytes_for(int max_batch, int max_seq) { return plan::model_bytes(max_batch, max_seq); }

  // Sets every parameter as init_options says (see there).
  void initialize(const init_options& o) {
    require(o.initializer_range >= 0.0, "initialize: initializer_range = ", o.initializer_range,
            " must not be negative");
    params_.zero();
    packed_.mark_stale();
    if (o.zeros) return;
    const philox_rng rng(o.seed, rng_stream::init);
    std::uint32_t tensor = 0;  // the Philox step: one per drawn tensor, in layout order
    auto normal = [&](std::size_t offset, std::size_t n, double sd) {
      T* p = params_.data() + offset;
      const std::uint32_t step = tensor++;
      const std::ptrdiff_t pairs = static_cast<std::ptrdiff_t>((n + 1) / 2);
      autodidact::detail::parallel_for(0, pairs, double(pairs) > autodidact::detail::init_parallel_pairs, [&](std::ptrdiff_t i) {
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
    if (!o.output_log_prior.empty()) initialize_output_prior(o.output_log_prior);
  }

  // init_options::output_log_prior: the MLM output bias = prior - mean(prior).
  void initialize_output_prior(std::span<const double> prior) {
    if constexpr (layout_type::template has_head<heads::mlm_head>) {
      require(prior.size() == static_cast<std::size_t>(C.vocab), "initialize: output_log_prior holds ", prior.size(),
              " entries, expected one per token of the vocabulary (", C.vocab, ")");
      double mean = 0;
      for (std::size_t i = 0; i < prior.size(); ++i) {
        require(std::isfinite(prior[i]), "initialize: output_log_prior[", i, "] = ", prior[i], " is not finite");
        mean += prior[i];
      }
      mean /= static_cast<double>(prior.size());
      T* bias = params_.data() + layout.template head<heads::mlm_head>()[heads::mlm_head::output_bias];
      for (std::size_t i = 0; i < prior.size(); ++i) bias[i] = static_cast<T>(prior[i] - mean);
    } else {
      require(false, "initialize: output_log_prior sets the MLM head's output bias; this model has no MLM head");
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

  // The own workspace's gradients: the trainable suffix
  // [plan::first_trainable, end) of the parameter arena.
  std::span<T> gradients() noexcept { return ws_.gradients(); }
  std::span<const T> gradients() const noexcept { return ws_.gradients(); }
  void zero_gradients() noexcept { ws_.zero_gradients(); }

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
  // Where the copy lives follows the storage policy: on the heap
  // (heap_arenas, allocated by the first call), inside the object
  // (static_arenas<B, S, with_packed_weights>), or in a second caller block
  // of packed_bytes bytes (borrowed_arenas: pack_weights(memory)).
  void pack_weights() requires(!std::same_as<Storage, borrowed_arenas>) {
    static_assert(packed_type::has_room,
                  "autodidact: this model's static_arenas<B, S> has no room for the packed weights; declare it "
                  "static_arenas<B, S, with_packed_weights> (the copy is then inside the object), or let it "
                  "multiply by its weights as stored (packed on the fly, slower).");
    packed_.enable(params_.data());
  }
  void pack_weights(std::span<std::byte> memory) requires std::same_as<Storage, borrowed_arenas> {
    packed_.enable(params_.data(), memory);
  }
  // Bytes of the packed copy (aligned): what pack_weights(memory) needs
  // with borrowed_arenas, and what with_packed_weights adds to sizeof.
  static constexpr std::size_t packed_bytes = packed_type::bytes_needed;
  bool packs_weights() const noexcept { return packed_.enabled(); }
  // Bytes of the parameter arena and of the packed copy (0 before pack_weights()).
  std::size_t parameter_bytes() const noexcept { return params_.size() * sizeof(T); }
  std::size_t packed_weight_bytes() const noexcept { return packed_.bytes(); }
  bool packed_weights_fresh() const noexcept { return packed_.fresh(); }
  void parameters_changed() noexcept { packed_.mark_stale(); }
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
  using base::gradient_at;
  using base::hidden_ptr;
  using base::packed_;
  using base::params_;
  using base::top;
  using base::top_gradient;
  using checks::begin_loss;
  using checks::mark_backward_done;
  using checks::require_forward;
  using checks::require_loss;
  using checks::require_unconsumed_forward;

  // borrowed_arenas: the parameter arena at the start of a checked block.
  static std::span<T> parameter_memory(std::span<std::byte> memory, int max_batch, int max_seq) {
    require(max_batch >= 1, "model: max_batch = ", max_batch, " must be at least 1");
    require(max_seq >= 1 && max_seq <= C.max_positions, "model: max_seq = ", max_seq,
            " must be in [1, max_positions = ", C.max_positions, "]");
    detail::check_borrowed_memory(memory, bytes_for(max_batch, max_seq), "model", max_batch, max_seq);
    return {reinterpret_cast<T*>(memory.data()), plan::parameter_elements};
  }

  // Before a forward through a non-const model: bring the packed copy up
  // to date (a const forward cannot).
  void refresh_packed_if_stale() { packed_.refresh_if_stale(params_.data()); }

  workspace_type ws_;  // the model's own (own_workspace())
};

}  // namespace detail
}  // namespace autodidact::models
