#pragma once
// Causal language modelling (GPT; Radford et al. 2018, 2019) over a
// decoder: every non-padding position predicts the next token of its
// window (the labels are the ids, -100 on padding; the decoder shifts them:
// position t predicts label t+1).
//
//   objectives::causal_lm<models::decoder<cfg, f32>> clm(/*max_batch=*/8, /*max_seq=*/128);
//   float loss = clm.train_step(model, workspace, batch);   // gradients accumulate in the workspace
//
// Keeps the labels of its last batch; use one per thread.

#include <algorithm>    // for std::copy
#include <cstdint>  // for std::int32_t
#include <span>     // for std::span
#include <type_traits>  // for std::is_same_v, std::remove_const_t
#include <utility>      // for std::move
#include <vector>   // for std::vector

#include "autodidact/core/error.hpp"              // for require
#include "autodidact/objectives/masking.hpp"      // for ignore_label
#include "autodidact/objectives/token_batch.hpp"  // for token_batch, check_token_batch

namespace autodidact::objectives {

template <class Decoder>
class causal_lm {
 public:
  using model_type = Decoder;
  using T = typename Decoder::T;
  using workspace_type = typename Decoder::workspace_type;

  causal_lm(int max_batch, int max_seq) : max_batch_(max_batch), max_seq_(max_seq) {
    require(max_batch >= 1 && max_seq >= 1, "causal_lm: max_batch = ", max_batch, " and max_seq = ", max_seq,
            " must be at least 1");
    labels_.resize(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(max_seq));
  }

  // Forward and the mean next-token cross-entropy over the real positions
  // (each row predicts tokens 1 .. length-1 from the ones before).
  // Model is the model type, const (shared by threads: stale packed weights
  // are packed on the fly) or not (they are refreshed first).
  template <class Model>
    requires std::is_same_v<std::remove_const_t<Model>, Decoder>
  T loss(Model& model, workspace_type& w, const token_batch& b) {
    check_token_batch(b, "causal_lm", false);
    require(b.batch <= max_batch_ && b.seq <= max_seq_, "causal_lm: the batch is ", b.batch, " x ", b.seq,
            ", larger than the ", max_batch_, " x ", max_seq_, " the objective was set up for");
    const std::size_t t = static_cast<std::size_t>(b.seq);
    for (int i = 0; i < b.batch; ++i) {
      const int length = b.lengths.empty() ? b.seq : b.lengths[static_cast<std::size_t>(i)];
      require(length >= 1 && length <= b.seq, "causal_lm: length ", length, " of sequence ", i,
              " must be in [1, seq = ", b.seq, "]");
      for (std::size_t j = 0; j < t; ++j) {
        const std::size_t at = static_cast<std::size_t>(i) * t + j;
        labels_[at] = static_cast<int>(j) < length ? b.ids[at] : ignore_label;
      }
    }
    batch_ = b.batch;
    seq_ = b.seq;
    const std::size_t n = static_cast<std::size_t>(b.batch) * t;
    model.forward(w, {b.ids, b.segments, b.lengths, b.batch, b.seq});
    return model.clm_loss(w, std::span<const std::int32_t>(labels_.data(), n));
  }
  // loss(), then backward: the gradients accumulate in the workspace.
  template <class Model>
    requires std::is_same_v<std::remove_const_t<Model>, Decoder>
  T train_step(Model& model, workspace_type& w, const token_batch& b) {
    const T l = loss(model, w, b);
    model.backward(w);
    return l;
  }

  std::span<const std::int32_t> labels() const noexcept {
    return {labels_.data(), static_cast<std::size_t>(batch_) * static_cast<std::size_t>(seq_)};
  }

 private:
  int max_batch_, max_seq_;
  std::vector<std::int32_t> labels_;
  int batch_ = 0, seq_ = 0;
};

}  // namespace autodidact::objectives
