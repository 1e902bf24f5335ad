#pragma once
// A model's workspace: everything a forward or backward pass writes —
// activations, the copied input (ids, segments, positions, lengths), loss
// targets and per-token losses, the gradients, the life-cycle stage and the
// run options (dropout, training mode, step). The weights stay in the model
// and are only read, so threads can share one const model, each with its
// own workspace:
//
//   const encoder<cfg, f32, inference_only> model = load(...);   // shared
//   // in each thread:
//   encoder<cfg, f32, inference_only>::workspace_type ws(/*max_batch=*/8, /*max_seq=*/128);
//   model.forward(ws, batch);
//   use(model.hidden(ws));
//
// Every model also owns one workspace (sized by its constructor) that the
// calls without a workspace argument use: model.forward(in) is
// model.forward(model.own_workspace(), in).
//
// All memory is allocated here, at construction; forward and backward
// allocate nothing.

#include <algorithm>  // for std::copy, std::fill_n
#include <array>    // for std::array
#include <cstdint>  // for std::int32_t, std::uint32_t, std::uint64_t
#include <span>     // for std::span
#include <string>   // for std::string, std::to_string

#include "autodidact/core/arena.hpp"          // for arena
#include "autodidact/core/error.hpp"          // for require
#include "autodidact/core/rng.hpp"            // for philox_rng
#include "autodidact/models/detail/batch_validation.hpp"  // for batch_input, detail::check_batch, detail::call_order
#include "autodidact/models/memory_plan.hpp"  // for memory_plan, training_policy

namespace autodidact::models {

// Run-time training options (not part of the model type).
struct dropout_options {
  float hidden = 0.0f;     // embeddings, attention output, feed-forward output
  float attention = 0.0f;  // attention probabilities
  std::uint64_t seed = 0;  // keys the dropout stream
};

namespace detail {
template <model_config C, precision_policy P, training_policy Policy>
class binding;
template <model_config C, precision_policy P, training_policy Policy>
class block_stack;
template <model_config C, precision_policy P, training_policy Policy>
class body;
}  // namespace detail
template <model_config C, precision_policy P, training_policy Policy>
class encoder;
template <model_config C, precision_policy P, training_policy Policy>
class decoder;

template <model_config C, precision_policy P, training_policy Policy = full_training>
class workspace {
 public:
  using T = typename P::compute_type;
  using value_type = T;
  using plan = memory_plan<C, P, Policy>;
  using heads_type = typename plan::layout_type::heads_type;

  // Room for batches of up to max_batch sequences of up to max_seq tokens
  // (max_seq ≤ the config's max_positions), and for the gradients of every
  // trainable parameter (zero).
  workspace(int max_batch, int max_seq)
      : max_batch_(max_batch),
        max_seq_(max_seq),
        acts_(checked_activation_elements(max_batch, max_seq), sized("the activation arena", max_batch, max_seq)),
        grads_(plan::gradient_elements, "workspace: the gradient arena"),
        losses_(tokens(), sized("the per-token loss arena", max_batch, max_seq)),
        ints_(5 * tokens() + 2 * static_cast<std::size_t>(max_batch),
              sized("the token id arena", max_batch, max_seq)) {
    grads_.zero();
  }

  int max_batch() const noexcept { return max_batch_; }
  int max_seq() const noexcept { return max_seq_; }
  // The batch of the last forward (0 before any).
  int batch() const noexcept { return batch_; }
  int seq() const noexcept { return seq_; }

  // The gradients of the trainable parameters [plan::first_trainable,
  // end), accumulated by every backward into this workspace.
  std::span<T> gradients() noexcept { return grads_.span(); }
  std::span<const T> gradients() const noexcept { return grads_.span(); }
  void zero_gradients() noexcept { grads_.zero(); }

  void set_dropout(const dropout_options& o) {
    require(o.hidden >= 0.0f && o.hidden < 1.0f, "set_dropout: hidden rate ", o.hidden, " must be in [0, 1)");
    require(o.attention >= 0.0f && o.attention < 1.0f, "set_dropout: attention rate ", o.attention,
            " must be in [0, 1)");
    dropout_ = o;
    rng_ = philox_rng(o.seed, rng_stream::dropout);
  }
  const dropout_options& dropout() const noexcept { return dropout_; }
  // Dropout applies only in training mode, with the current step as counter
  // (and never to an inference-only model).
  void set_training(bool on) noexcept { training_ = on; }
  bool training() const noexcept { return training_; }
  void set_step(std::uint32_t step) noexcept { step_ = step; }
  // When on, every forward checks each layer's output (the embeddings, each
  // block, the final LayerNorm) for NaN and infinity and raises
  // numeric_error naming the first layer whose output is not finite, the
  // element ([sequence, position, channel]) and the value. Off by default:
  // it reads every hidden state once more.
  void set_check_finite(bool on) noexcept { check_finite_ = on; }
  bool check_finite() const noexcept { return check_finite_; }

  // Test hook (the golden tests compare d loss / d hidden state, which
  // backward overwrites as it goes down the stack): when set, backward
  // calls observer(context, i, d) with d = d loss / d hidden_state(i)
  // [B, T, C] for i = C.layers down to 0; with a final LayerNorm also
  // i = C.layers + 1 for d loss / d hidden() (the LayerNorm's output).
  // Null (the default) turns it off.
  using hidden_gradient_observer = void (*)(void* context, int index, const T* gradient);
  void observe_hidden_gradients(hidden_gradient_observer observer, void* context = nullptr) noexcept {
    grad_observer_ = observer;
    grad_observer_context_ = context;
  }

 private:
  template <model_config, precision_policy, training_policy>
  friend class detail::binding;
  template <model_config, precision_policy, training_policy>
  friend class detail::block_stack;
  template <model_config, precision_policy, training_policy>
  friend class detail::body;
  template <class>
  friend class detail::call_order;
  template <model_config, precision_policy, training_policy>
  friend class encoder;
  template <model_config, precision_policy, training_policy>
  friend class decoder;

  // The life cycle: forward, then a loss (or a task head's), then backward,
  // once. Every call out of this order is an invalid_argument saying so.
  enum class stage : unsigned char { empty, forwarded, loss_ready, backwarded };
  // What a head keeps between its loss and its backward.
  struct head_state {
    bool logits_valid = false;  // its logits (all rows) are those of the last forward
    bool sparse_valid = false;  // its cache holds the gathered labelled rows of the last loss
    bool all_rows = false;      // the last loss ran the head on every row
    int count = 0;              // labelled rows of the last loss
    T loss = 0;                 // mean loss of the last loss call
  };

  static std::size_t checked_activation_elements(int max_batch, int max_seq) {
    require(max_batch >= 1, "model: max_batch = ", max_batch, " must be at least 1");
    require(max_seq >= 1 && max_seq <= C.max_positions, "model: max_seq = ", max_seq,
            " must be in [1, max_positions = ", C.max_positions, "]");
    // Token rows are indexed with int (ids, positions, gathered rows are
    // int32): max_batch x max_seq must fit.
    const long long tokens = static_cast<long long>(max_batch) * max_seq;
    require(tokens <= max_tokens, "model: max_batch x max_seq = ", max_batch, " x ", max_seq, " = ", tokens,
            " tokens, more than the ", max_tokens, " a workspace can index");
    return plan::activations(max_batch, max_seq).total;
  }
  static constexpr long long max_tokens = (1LL << 31) - 1;
  // "workspace: <what> for max_batch x max_seq = B x T": names an
  // allocation_error.
  static std::string sized(const char* what, int max_batch, int max_seq) {
    return "workspace: " + std::string(what) + " for max_batch x max_seq = " + std::to_string(max_batch) + " x " +
           std::to_string(max_seq);
  }
  std::size_t tokens() const noexcept { return static_cast<std::size_t>(max_batch_) * max_seq_; }

  // The int arena: ids, segments, positions, token targets [max tokens]
  // each, then lengths and sequence targets [max batch] each, then the rows
  // a head gathered [max tokens].
  std::int32_t* ids() noexcept { return ints_.data(); }
  std::int32_t* segments() noexcept { return ints_.data() + tokens(); }
  std::int32_t* positions() noexcept { return ints_.data() + 2 * tokens(); }
  std::int32_t* token_targets() noexcept { return ints_.data() + 3 * tokens(); }
  std::int32_t* lengths() noexcept { return ints_.data() + 4 * tokens(); }
  std::int32_t* sequence_targets() noexcept { return lengths() + max_batch_; }
  std::int32_t* gather_rows() noexcept { return sequence_targets() + max_batch_; }  // [max tokens]
  const std::int32_t* gather_rows() const noexcept { return ints_.data() + 4 * tokens() + 2 * max_batch_; }
  const std::int32_t* ids() const noexcept { return ints_.data(); }
  const std::int32_t* segments() const noexcept { return ints_.data() + tokens(); }
  const std::int32_t* positions() const noexcept { return ints_.data() + 2 * tokens(); }
  const std::int32_t* lengths() const noexcept { return ints_.data() + 4 * tokens(); }

  T* act(std::size_t offset) noexcept { return acts_.data() + offset; }
  const T* act(std::size_t offset) const noexcept { return acts_.data() + offset; }

  // Validates and copies the input into the workspace, and lays out its
  // activations for it.
  void accept(const batch_input& in) {
    detail::check_batch<C>(in, max_batch_, max_seq_);
    const std::size_t n = static_cast<std::size_t>(in.batch) * static_cast<std::size_t>(in.seq);
    batch_ = in.batch;
    seq_ = in.seq;
    al_ = plan::activations(batch_, seq_);
    std::copy(in.ids.begin(), in.ids.end(), ids());
    if (in.segments.empty()) {
      std::fill_n(segments(), n, 0);
    } else {
      std::copy(in.segments.begin(), in.segments.end(), segments());
    }
    for (std::size_t i = 0; i < n; ++i)
      positions()[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(in.seq));
    for (int b = 0; b < in.batch; ++b)
      lengths()[b] = in.lengths.empty() ? in.seq : in.lengths[static_cast<std::size_t>(b)];
    invalidate_logits();  // the heads' logits of the previous batch are gone
  }

  template <class H>
  head_state& head() noexcept {
    return heads_[plan::layout_type::template head_index<H>];
  }
  template <class H>
  const head_state& head() const noexcept {
    return heads_[plan::layout_type::template head_index<H>];
  }
  void invalidate_logits() noexcept {
    for (head_state& h : heads_) h.logits_valid = h.sparse_valid = false;
  }

  int max_batch_, max_seq_;
  arena<T> acts_, grads_, losses_;
  arena<std::int32_t> ints_;
  int batch_ = 0, seq_ = 0;
  activation_layout<heads_type::size> al_{};
  std::array<head_state, heads_type::size> heads_{};
  stage stage_ = stage::empty;
  bool check_finite_ = false;
  dropout_options dropout_{};
  philox_rng rng_{0, rng_stream::dropout};
  bool training_ = false;
  std::uint32_t step_ = 0;
  hidden_gradient_observer grad_observer_ = nullptr;
  void* grad_observer_context_ = nullptr;
};

}  // namespace autodidact::models
