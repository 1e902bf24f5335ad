#pragma once
// What a model checks of its caller: the batch it is given (sizes, token
// and segment ids, lengths), the order of its calls (forward, a loss,
// backward, once), and, when asked (workspace::set_check_finite), that
// every layer's output is finite. Each failure names the argument, the
// position and the expected vs actual value.

#include <cmath>    // for std::isfinite, std::isnan
#include <cstddef>  // for std::size_t, std::ptrdiff_t
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span

#include "autodidact/config.hpp"      // for model_config
#include "autodidact/core/error.hpp"  // for require, raise, numeric_error

namespace autodidact::models {

// A batch of B sequences of T tokens (run-time sizes, bounded by the
// workspace's maximum batch and sequence length).
struct batch_input {
  std::span<const std::int32_t> ids;       // [B, T] token ids
  std::span<const std::int32_t> segments;  // [B, T] segment ids, or empty (all 0)
  std::span<const std::int32_t> lengths;   // [B] non-padding tokens (right padding), or empty (all T)
  int batch = 0;                           // B
  int seq = 0;                             // T
};

namespace detail {

// ---- the batch --------------------------------------------------------------

// Raises invalid_argument unless `in` fits a workspace of max_batch x
// max_seq and every id is inside config C's tables.
template <model_config C>
void check_batch(const batch_input& in, int max_batch, int max_seq) {
  require(in.batch >= 1 && in.batch <= max_batch, "forward: batch = ", in.batch, " must be in [1, max_batch = ",
          max_batch, "]");
  require(in.seq >= 1 && in.seq <= max_seq, "forward: sequence length ", in.seq, " must be in [1, max_seq = ",
          max_seq, "] (the workspace was set up for at most ", max_seq, " tokens; max_positions = ",
          C.max_positions, ")");
  const std::size_t n = static_cast<std::size_t>(in.batch) * static_cast<std::size_t>(in.seq);
  require(in.ids.size() == n, "forward: ids holds ", in.ids.size(), " tokens, expected batch x seq = ", in.batch,
          " x ", in.seq, " = ", n);
  require(in.segments.empty() || in.segments.size() == n, "forward: segments holds ", in.segments.size(),
          " entries, expected ", n, " (or none)");
  require(in.lengths.empty() || in.lengths.size() == static_cast<std::size_t>(in.batch), "forward: lengths holds ",
          in.lengths.size(), " entries, expected batch = ", in.batch, " (or none)");
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t id = in.ids[i];
    require(id >= 0 && id < C.vocab, "forward: token id ", id, " at position ", i % in.seq, " of sequence ",
            i / in.seq, " is outside the vocabulary [0, ", C.vocab, ")");
  }
  for (std::size_t i = 0; i < in.segments.size(); ++i) {
    require(in.segments[i] >= 0 && in.segments[i] < (C.type_vocab > 0 ? C.type_vocab : 1), "forward: segment id ",
            in.segments[i], " at position ", i % in.seq, " of sequence ", i / in.seq,
            " is outside [0, type_vocab = ", C.type_vocab, ")");
  }
  for (std::size_t b = 0; b < in.lengths.size(); ++b) {
    require(in.lengths[b] >= 1 && in.lengths[b] <= in.seq, "forward: length ", in.lengths[b], " of sequence ", b,
            " must be in [1, seq = ", in.seq, "]");
  }
}

// ---- the order of calls -----------------------------------------------------

// The life cycle of a workspace (workspace::stage): forward, then a loss (or
// a task head's), then backward, once. Every call out of this order is an
// invalid_argument saying so.
template <class Workspace>
class call_order {
 protected:
  using stage = typename Workspace::stage;
  static constexpr const char* order = " (the order is forward(), a loss, backward())";
  static void require_forward(const Workspace& w, const char* what) {
    require(w.stage_ != stage::empty, what, ": no forward() has run yet", order);
  }
  // A loss needs a forward whose activations backward has not consumed.
  static void begin_loss(Workspace& w, const char* what) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what,
            ": backward() has run since the last forward(); call forward() again", order);
    w.stage_ = stage::loss_ready;
  }
  // backward needs a loss of the current forward, and runs once per forward.
  static void require_loss(const Workspace& w, const char* what, const char* loss_name) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what, ": already ran for this forward(); a second backward would add ",
            "the gradients again. Call forward() and ", loss_name, " again", order);
    require(w.stage_ == stage::loss_ready, what, ": call ", loss_name, " after forward() first", order);
  }
  // A task head's backward (begin_backward): a forward not yet consumed.
  static void require_unconsumed_forward(const Workspace& w, const char* what) {
    require_forward(w, what);
    require(w.stage_ != stage::backwarded, what,
            ": backward() already ran for this forward(); call forward() again", order);
  }
  static void mark_backward_done(Workspace& w) noexcept { w.stage_ = stage::backwarded; }
};

// ---- finite outputs (workspace::set_check_finite) ----------------------------

// The first element of an [N, C] output that is NaN or infinite in rows
// [r0, r1), or -1.
template <model_config C, class T>
std::ptrdiff_t first_non_finite(const T* x, int r0, int r1) {
  const std::ptrdiff_t e = std::ptrdiff_t(r1) * C.d_model;
  for (std::ptrdiff_t i = std::ptrdiff_t(r0) * C.d_model; i < e; ++i) {
    if (!std::isfinite(static_cast<double>(x[i]))) return i;
  }
  return -1;
}

// Raises numeric_error for element i (in a batch of sequences of `seq`
// tokens) of the output of layer `index` (0: the embeddings, l + 1: block
// l, -1: the final LayerNorm).
template <model_config C>
[[noreturn]] void non_finite_output(int seq, int index, std::ptrdiff_t i, double value) {
  const std::ptrdiff_t c = i % C.d_model, t = i / C.d_model % seq, b = i / C.d_model / seq;
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

}  // namespace detail
}  // namespace autodidact::models
