#pragma once
// Masked language modelling (BERT; Devlin et al. 2019) over an encoder:
// corrupt the batch (objectives/masking.hpp), run the encoder on the
// corrupted ids, and predict the original id of every selected token. The
// encoder's MLM head runs on the selected rows alone (heads/mlm.hpp), which
// at 15 % masking is about a seventh of the all-position head's FLOPs.
//
//   objectives::masked_lm<models::encoder<cfg, f32>> mlm(options, vocab, /*max_batch=*/8, /*max_seq=*/128);
//   float loss = mlm.train_step(model, workspace, batch, epoch);   // gradients accumulate in the workspace
//
// The objective keeps the corrupted ids and labels of its last batch
// (corrupted(), labels()); use one per thread. The model may be const
// (shared by threads, each with its own workspace and objective).

#include <algorithm>    // for std::copy
#include <cstdint>  // for std::int32_t, std::uint32_t
#include <optional>     // for std::optional
#include <span>     // for std::span
#include <type_traits>  // for std::is_same_v, std::remove_const_t
#include <utility>      // for std::move
#include <vector>   // for std::vector

#include "autodidact/core/error.hpp"               // for require
#include "autodidact/heads/sampled_softmax.hpp"    // for heads::sampled_softmax, sampled_softmax_options
#include "autodidact/objectives/masking.hpp"       // for masking_options, masking_vocabulary, mask_window
#include "autodidact/objectives/token_batch.hpp"   // for token_batch, check_token_batch

namespace autodidact::objectives {

template <class Encoder>
class masked_lm {
 public:
  using model_type = Encoder;
  using T = typename Encoder::T;
  using workspace_type = typename Encoder::workspace_type;

  masked_lm(masking_options options, masking_vocabulary vocab, int max_batch, int max_seq)
      : options_(options), vocab_(std::move(vocab)), max_batch_(max_batch), max_seq_(max_seq) {
    check_masking(options_, vocab_);
    require(vocab_.mask_id < Encoder::config.vocab, "masked_lm: the [MASK] id ", vocab_.mask_id,
            " is outside the model's vocabulary of ", Encoder::config.vocab);
    require(vocab_.replacements.empty() || vocab_.replacements.back() < Encoder::config.vocab,
            "masked_lm: replacement id ", vocab_.replacements.empty() ? 0 : vocab_.replacements.back(),
            " is outside the model's vocabulary of ", Encoder::config.vocab);
    require(max_batch >= 1 && max_seq >= 1, "masked_lm: max_batch = ", max_batch, " and max_seq = ", max_seq,
            " must be at least 1");
    ids_.resize(static_cast<std::size_t>(max_batch) * static_cast<std::size_t>(max_seq));
    labels_.resize(ids_.size());
  }

  // From now on, train with a sampled softmax over the batch's labels and
  // `options.negatives` draws (heads/sampled_softmax.hpp): counts[V] are
  // the tokens' training-text frequencies. loss() is then the sampled
  // estimate; evaluate with an objective without it (the full softmax).
  // The candidates are keyed by the epoch and the batch's first window.
  void use_sampled_softmax(heads::sampled_softmax_options options, std::span<const double> counts) {
    require(counts.size() == static_cast<std::size_t>(Encoder::config.vocab), "masked_lm: ", counts.size(),
            " token counts for a vocabulary of ", Encoder::config.vocab);
    sampler_.emplace(options, counts, max_batch_ * max_seq_, Encoder::config.embedding_width());
  }
  // The sampled softmax (its last candidates), or null.
  const heads::sampled_softmax<T>* sampler() const noexcept { return sampler_ ? &*sampler_ : nullptr; }

  // Masks the batch (each window by its global index and `epoch`), runs the
  // model's forward on the corrupted ids and the MLM loss (mean
  // cross-entropy over the selected tokens; 0 when none was selected).
  // Model is the model type, const (shared by threads: stale packed weights
  // are packed on the fly) or not (they are refreshed first).
  template <class Model>
    requires std::is_same_v<std::remove_const_t<Model>, Encoder>
  T loss(Model& model, workspace_type& w, const token_batch& b, std::uint32_t epoch) {
    corrupt(b, epoch);
    const std::size_t n = static_cast<std::size_t>(b.batch) * static_cast<std::size_t>(b.seq);
    model.forward(w, {std::span<const std::int32_t>(ids_.data(), n), b.segments, b.lengths, b.batch, b.seq});
    const std::span<const std::int32_t> labels(labels_.data(), n);
    if (sampler_) {
      sampler_->draw(labels, epoch, static_cast<std::uint32_t>(b.window_indices[0]));
      return model.pretraining_loss(w, labels, *sampler_);
    }
    return model.pretraining_loss(w, labels);
  }
  // loss(), then backward: the gradients accumulate in the workspace.
  template <class Model>
    requires std::is_same_v<std::remove_const_t<Model>, Encoder>
  T train_step(Model& model, workspace_type& w, const token_batch& b, std::uint32_t epoch) {
    const T l = loss(model, w, b, epoch);
    model.backward(w);
    return l;
  }

  // Corrupts the batch into corrupted() and labels() without running the model.
  void corrupt(const token_batch& b, std::uint32_t epoch) {
    check_token_batch(b, "masked_lm", true);
    require(b.batch <= max_batch_ && b.seq <= max_seq_, "masked_lm: the batch is ", b.batch, " x ", b.seq,
            ", larger than the ", max_batch_, " x ", max_seq_, " the objective was set up for");
    require(!options_.whole_word || !b.word_start.empty(),
            "masked_lm: whole-word masking needs the batch's word_start flags");
    const std::size_t t = static_cast<std::size_t>(b.seq);
    bool any_eligible = false;
    for (std::uint8_t special : b.special) any_eligible = any_eligible || special == 0;
    require(any_eligible, "masked_lm: the batch has no eligible token (every token is special or padding)");
    std::copy(b.ids.begin(), b.ids.end(), ids_.begin());
    selected_ = 0;
    for (int i = 0; i < b.batch; ++i) {
      const std::size_t at = static_cast<std::size_t>(i) * t;
      selected_ += mask_window(options_, vocab_, epoch, b.window_indices[static_cast<std::size_t>(i)],
                               {std::span<std::int32_t>(ids_.data() + at, t), b.special.subspan(at, t),
                                b.word_start.empty() ? std::span<const std::uint8_t>{} : b.word_start.subspan(at, t),
                                std::span<std::int32_t>(labels_.data() + at, t)});
    }
    batch_ = b.batch;
    seq_ = b.seq;
  }

  // The last batch's corrupted ids and labels [B, T], and how many tokens
  // were selected.
  std::span<const std::int32_t> corrupted() const noexcept { return {ids_.data(), size()}; }
  std::span<const std::int32_t> labels() const noexcept { return {labels_.data(), size()}; }
  int selected() const noexcept { return selected_; }
  const masking_options& options() const noexcept { return options_; }

 private:
  std::size_t size() const noexcept { return static_cast<std::size_t>(batch_) * static_cast<std::size_t>(seq_); }

  masking_options options_;
  masking_vocabulary vocab_;
  int max_batch_, max_seq_;
  std::vector<std::int32_t> ids_, labels_;
  std::optional<heads::sampled_softmax<T>> sampler_;
  int batch_ = 0, seq_ = 0, selected_ = 0;
};

}  // namespace autodidact::objectives
