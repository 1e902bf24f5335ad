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
#include <concepts>   // for std::same_as
#include <cstddef>    // for std::byte, std::size_t
#include <array>    // for std::array
#include <cstdint>  // for std::int32_t, std::uint32_t, std::uint64_t
#include <span>     // for std::span
#include <string>   // for std::string, std::to_string

#include "autodidact/core/arena.hpp"          // for arena
#include "autodidact/core/error.hpp"          // for require
#include "autodidact/core/rng.hpp"            // for philox_rng
#include "autodidact/models/detail/batch_validation.hpp"  // for batch_input, detail::check_batch, detail::call_order
#include "autodidact/models/memory_plan.hpp"  // for memory_plan, training_policy, workspace_memory
#include "autodidact/models/storage.hpp"      // for heap_arenas, borrowed_arenas, static_arenas

namespace autodidact::heads {
template <class T>
class sampled_softmax;
}  // namespace autodidact::heads

namespace autodidact::models {

// Run-time training options (not part of the model type).
struct dropout_options {
  float hidden = 0.0f;     // embeddings, attention output, feed-forward output
  float attention = 0.0f;  // attention probabilities
  std::uint64_t seed = 0;  // keys the dropout stream
};

namespace detail {
template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class binding;
template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class block_stack;
template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class body;

// The arena types of a workspace of plan Plan under storage policy Storage
// (models/storage.hpp).
template <class Plan, class Storage>
struct workspace_arena_types {
  using T = typename Plan::compute_type;
  using activations = arena<T>;
  using gradients = arena<T>;
  using losses = arena<T>;
  using ints = arena<std::int32_t>;
};
template <class Plan>
struct workspace_arena_types<Plan, borrowed_arenas> {
  using T = typename Plan::compute_type;
  using activations = arena<T, borrowed_storage<T>>;
  using gradients = arena<T, borrowed_storage<T>>;
  using losses = arena<T, borrowed_storage<T>>;
  using ints = arena<std::int32_t, borrowed_storage<std::int32_t>>;
};
template <class Plan, int B, int S, bool Packed>
struct workspace_arena_types<Plan, static_arenas<B, S, Packed>> {
  static constexpr workspace_memory m = Plan::workspace_arenas(B, S);
  using T = typename Plan::compute_type;
  using activations = arena<T, static_storage<T, m.activation_elements>>;
  using gradients = arena<T, static_storage<T, m.gradient_elements>>;
  using losses = arena<T, static_storage<T, m.loss_elements>>;
  using ints = arena<std::int32_t, static_storage<std::int32_t, m.int_elements>>;
};
}  // namespace detail
template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class encoder;
template <model_config C, precision_policy P, training_policy Policy, arena_storage_policy Storage>
class decoder;

template <model_config C, precision_policy P, training_policy Policy = full_training,
          arena_storage_policy Storage = heap_arenas>
class workspace {
  static_assert(
      [] {
        if constexpr (is_static_arenas_v<Storage>) return Storage::max_seq <= C.max_positions;
        return true;
      }(),
      "autodidact: static_arenas<MaxBatch, MaxSeq> needs MaxSeq <= the config's max_positions.");

 public:
  using T = typename P::compute_type;
  using value_type = T;
  using plan = memory_plan<C, P, Policy>;
  using heads_type = typename plan::layout_type::heads_type;
  using storage_policy = Storage;

  // Room for batches of up to max_batch sequences of up to max_seq tokens
  // (max_seq ≤ the config's max_positions), and for the gradients of every
  // trainable parameter (zero). With static_arenas<B, S>, max_batch ≤ B and
  // max_seq ≤ S.
  workspace(int max_batch, int max_seq) requires(!std::same_as<Storage, borrowed_arenas>)
      : max_batch_(max_batch),
        max_seq_(max_seq),
        acts_(make_arena<activation_arena>(checked_activation_elements(max_batch, max_seq), "the activation arena")),
        grads_(make_arena<gradient_arena>(plan::gradient_elements, nullptr)),
        losses_(make_arena<loss_arena>(tokens(), "the per-token loss arena")),
        ints_(make_arena<int_arena>(5 * tokens() + 2 * static_cast<std::size_t>(max_batch), "the token id arena")) {
    if constexpr (is_static_arenas_v<Storage>) {
      detail::check_static_extent<Storage>("workspace", "max_seq", max_batch, max_seq);
      // Zero like a heap arena (a static object is, an allocated one not).
      acts_.zero();
      losses_.zero();
      ints_.zero();
    }
    grads_.zero();
  }
  // static_arenas<B, S>: room for batches of up to B sequences of up to S
  // tokens, inside the object.
  workspace() requires is_static_arenas_v<Storage> : workspace(Storage::max_batch, Storage::max_seq) {}
  // borrowed_arenas: the arenas in `memory`, which the caller keeps alive as
  // long as the workspace; it must hold bytes_for(max_batch, max_seq) bytes
  // from a 64-byte boundary (invalid_argument naming both sizes otherwise).
  workspace(std::span<std::byte> memory, int max_batch, int max_seq) requires std::same_as<Storage, borrowed_arenas>
      : workspace(memory, max_batch, max_seq, checked_block(memory, max_batch, max_seq)) {}

  // Bytes of memory a workspace for max_batch x max_seq tokens takes
  // (memory_plan::workspace_bytes): what borrowed_arenas needs.
  static constexpr std::size_t bytes_for(int max_batch, int max_seq) {
    return plan::workspace_bytes(max_batch, max_seq);
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
  template <model_config, precision_policy, training_policy, arena_storage_policy>
  friend class detail::binding;
  template <model_config, precision_policy, training_policy, arena_storage_policy>
  friend class detail::block_stack;
  template <model_config, precision_policy, training_policy, arena_storage_policy>
  friend class detail::body;
  template <class>
  friend class detail::call_order;
  template <model_config, precision_policy, training_policy, arena_storage_policy>
  friend class encoder;
  template <model_config, precision_policy, training_policy, arena_storage_policy>
  friend class decoder;

  // The arenas under this storage policy.
  using arena_types = detail::workspace_arena_types<plan, Storage>;
  using activation_arena = typename arena_types::activations;
  using gradient_arena = typename arena_types::gradients;
  using loss_arena = typename arena_types::losses;
  using int_arena = typename arena_types::ints;
  // A heap arena of `count` elements (an allocation_error names `what` and
  // the workspace's sizes; null: the gradient arena), or a static one (its
  // size fixed by the type, at least `count`; nothing allocated).
  template <class A>
  A make_arena(std::size_t count, const char* what) const {
    if constexpr (is_static_arenas_v<Storage>) {
      (void)count;
      (void)what;
      return A();
    } else {
      if (what == nullptr) return A(count, "workspace: the gradient arena");
      return A(count, sized(what, max_batch_, max_seq_));
    }
  }
  // borrowed_arenas: the block's layout, after checking the sizes and the
  // block.
  static workspace_memory checked_block(std::span<std::byte> memory, int max_batch, int max_seq) {
    checked_activation_elements(max_batch, max_seq);
    const workspace_memory m = plan::workspace_arenas(max_batch, max_seq);
    detail::check_borrowed_memory(memory, m.bytes, "workspace", max_batch, max_seq);
    return m;
  }
  workspace(std::span<std::byte> memory, int max_batch, int max_seq, const workspace_memory& m)
      : max_batch_(max_batch),
        max_seq_(max_seq),
        acts_(detail::borrowed_arena<T>(memory, m.activation_offset, m.activation_elements)),
        grads_(detail::borrowed_arena<T>(memory, m.gradient_offset, m.gradient_elements)),
        losses_(detail::borrowed_arena<T>(memory, m.loss_offset, m.loss_elements)),
        ints_(detail::borrowed_arena<std::int32_t>(memory, m.int_offset, m.int_elements)) {
    acts_.zero();
    grads_.zero();
    losses_.zero();
    ints_.zero();
  }

  // The life cycle: forward, then a loss (or a task head's), then backward,
  // once. Every call out of this order is an invalid_argument saying so.
  enum class stage : unsigned char { empty, forwarded, loss_ready, backwarded };
  // What a head keeps between its loss and its backward.
  struct head_state {
    bool logits_valid = false;  // its logits (all rows) are those of the last forward
    bool sparse_valid = false;  // its cache holds the gathered labelled rows of the last loss
    bool all_rows = false;      // the last loss ran the head on every row
    int count = 0;              // labelled rows of the last loss
    heads::sampled_softmax<T>* sampler = nullptr;  // the last loss's sampled decoder (MLM), if any
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
  activation_arena acts_;
  gradient_arena grads_;
  loss_arena losses_;
  int_arena ints_;
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
