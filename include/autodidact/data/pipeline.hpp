#pragma once
// The pretraining data pipeline, stage by stage:
//
//   text files -> lines -> tokens -> windows of T (or sentence pairs)
//     -> bounded shuffle (K windows, keyed by seed and epoch) -> shard k of n -> batches of B
//
// Corruption (MLM masking and the like) is the objective's job
// (objectives/); a batch carries what it needs. docs/pipeline.md describes
// the stages, the guarantees and the costs.
//
//   data::pipeline_options o;
//   o.files = {"wiki.txt"};
//   o.windows = data::bert_window_options(tok, 128);
//   o.shuffle_buffer = 4096;  o.seed = 42;  o.batch_size = 32;
//   data::pipeline<tokenizers::wordpiece_model> p(tok, o, C.max_positions);
//   data::batch b;
//   while (p.next(b)) train(models::batch_input{b.ids, b.segments, b.lengths, b.size, b.seq});
//   save(p.position());   // {epoch, windows handed out}; p.seek(saved) continues bit for bit
//
// Guarantees: the batches are a pure function of (corpus, tokenizer,
// options, epoch); shard k of n gets the windows k, k + n, ... of the one
// shuffled stream; memory is K windows plus one line and one batch,
// whatever the corpus size. Costs: seek() replays the epoch from its start
// (reading, tokenizing and shuffling every window before the position), and
// every shard reads the whole corpus.

#include <cstddef>  // for std::size_t
#include <cstdint>  // for std::uint64_t
#include <memory>   // for std::unique_ptr, std::make_unique, std::make_shared
#include <string>   // for std::string
#include <utility>  // for std::move
#include <vector>   // for std::vector

#include <range/v3/range/access.hpp>   // for ranges::begin, ranges::end
#include <range/v3/range/traits.hpp>   // for ranges::iterator_t
#include <range/v3/view/any_view.hpp>  // for ranges::any_view, ranges::category

#include "autodidact/core/error.hpp"                  // for autodidact::require, invalid_argument
#include "autodidact/data/batch.hpp"                  // for batch
#include "autodidact/data/corpus.hpp"                 // for read_corpus, check_corpus_files
#include "autodidact/data/detail/generator_view.hpp"  // for detail::generator_view
#include "autodidact/data/pairs.hpp"                  // for views::pairs
#include "autodidact/data/shuffle.hpp"                // for views::shuffle, views::shard
#include "autodidact/data/tokenize.hpp"               // for views::tokenize
#include "autodidact/data/windows.hpp"                // for window, window_options, views::pack
#include "autodidact/tokenizers/tokenizer.hpp"        // for tokenizer

namespace autodidact::data {

struct pipeline_options {
  std::vector<std::string> files;     // UTF-8 text: a sentence per line, blank lines between documents
  window_options windows;             // T, [CLS]/[SEP] or <|endoftext|>, packing across documents or not
  bool sentence_pairs = false;        // [CLS] A [SEP] B [SEP] pairs instead of packed windows
  std::size_t shuffle_buffer = 1024;  // K windows; 0 or 1: the corpus order
  std::uint64_t seed = 0;             // keys the shuffle (with the epoch)
  std::size_t batch_size = 32;        // B
  std::size_t shard = 0;              // k: this process's shard ...
  std::size_t shards = 1;             // ... of n
  bool drop_last = false;             // drop the epoch's last batch when it has fewer than B rows
};

// Where a pipeline is: the epoch, and the windows of this shard handed out
// in batches during that epoch.
struct pipeline_position {
  std::uint64_t epoch = 0;
  std::uint64_t windows = 0;
  friend bool operator==(const pipeline_position&, const pipeline_position&) = default;
};

// An epoch's stream of windows for one shard, type-erased.
using window_stream = ranges::any_view<const window&, ranges::category::input>;

// Raises invalid_argument for options no pipeline can run with (the corpus
// files are checked by check_corpus_files).
inline void check_pipeline_options(const pipeline_options& o, std::size_t max_positions) {
  require<invalid_argument>(!o.files.empty(),
                            "data: pipeline_options.files is empty: expected at least one text file");
  check_window_options(o.windows, max_positions, o.sentence_pairs);
  require<invalid_argument>(o.batch_size >= 1, "data: batch size B = 0: expected B >= 1");
  require<invalid_argument>(o.shards >= 1, "data: shard count n = 0: expected n >= 1");
  require<invalid_argument>(o.shard < o.shards, "data: shard k = ", o.shard, " of n = ", o.shards,
                            ": expected 0 <= k < n");
}

// The windows of one epoch for shard o.shard of o.shards, shuffled: the
// stages of the pipeline without batching. The tokenizer must outlive it.
template <class Model>
window_stream make_window_stream(const tokenizers::tokenizer<Model>& tok, const pipeline_options& o,
                                 std::size_t max_positions, std::uint64_t epoch) {
  check_pipeline_options(o, max_positions);
  const std::string what = "the corpus " + detail::describe_files(o.files);
  auto lines = read_corpus(o.files) | views::tokenize(tok);
  auto shuffle = views::shuffle(o.shuffle_buffer, o.seed, epoch);
  auto shard = views::shard(o.shard, o.shards);
  if (o.sentence_pairs) return lines | views::pairs(o.windows, max_positions, what) | shuffle | shard;
  return lines | views::pack(o.windows, max_positions, what) | shuffle | shard;
}

template <class Model>
class pipeline {
 public:
  // Checks the options and that every file opens and is not empty; the
  // first batch comes from `start` (default: epoch 0, nothing consumed).
  pipeline(const tokenizers::tokenizer<Model>& tok, pipeline_options options, std::size_t max_positions,
           pipeline_position start = {})
      : tok_(&tok), o_(std::move(options)), max_positions_(max_positions), pos_(start) {
    check_pipeline_options(o_, max_positions_);
    check_corpus_files(o_.files);
  }
  pipeline(const pipeline&) = delete;  // a stream in flight cannot be copied
  pipeline& operator=(const pipeline&) = delete;
  pipeline(pipeline&&) noexcept = default;
  pipeline& operator=(pipeline&&) noexcept = default;

  // Fills `out` with the next batch of the current epoch and returns true;
  // at the epoch's end returns false and moves to the next epoch (whose
  // first batch the next call returns).
  bool next(batch& out) {
    if (!stream_) open();
    out.clear(static_cast<int>(o_.windows.length));
    out.epoch = pos_.epoch;
    auto& s = *stream_;
    while (out.size < static_cast<int>(o_.batch_size) && s.it != ranges::end(s.view)) {
      out.push_back(*s.it);
      ++s.it;
    }
    if (out.empty() || (o_.drop_last && out.size < static_cast<int>(o_.batch_size))) {
      stream_.reset();
      pos_ = {pos_.epoch + 1, 0};
      out.clear(static_cast<int>(o_.windows.length));
      return false;
    }
    pos_.windows += static_cast<std::uint64_t>(out.size);
    return true;
  }

  pipeline_position position() const noexcept { return pos_; }

  // Continues from `p` as if the batches before it had been taken: the
  // epoch's stream is rebuilt and its first p.windows windows are skipped
  // (the cost of reading up to there). Raises invalid_argument if the epoch
  // has fewer windows.
  void seek(pipeline_position p) {
    stream_.reset();
    pos_ = p;
  }

  // The rest of the current epoch's batches as a single-pass range-v3 view
  // (each element is valid until the next increment). The pipeline must
  // outlive the view.
  auto batches() { return detail::make_generator_view<batch_source>(this); }

  const pipeline_options& options() const noexcept { return o_; }
  std::size_t max_positions() const noexcept { return max_positions_; }

 private:
  struct stream_state {
    window_stream view;
    ranges::iterator_t<window_stream> it;
  };

  struct batch_source {
    explicit batch_source(pipeline* p) : owner(p) {}
    pipeline* owner;
    batch current;
    bool finished = false;
    void advance() { finished = !owner->next(current); }
    bool done() const noexcept { return finished; }
    const batch& value() const noexcept { return current; }
  };

  void open() {
    // The view lives on the heap: range-v3's drop and stride keep state in
    // the view that its iterators point into, so it must not move.
    stream_ = std::make_unique<stream_state>();
    stream_->view = make_window_stream(*tok_, o_, max_positions_, pos_.epoch);
    stream_->it = ranges::begin(stream_->view);
    for (std::uint64_t i = 0; i < pos_.windows; ++i) {
      require<invalid_argument>(stream_->it != ranges::end(stream_->view), "data: cannot seek to window ",
                                pos_.windows, " of epoch ", pos_.epoch, ": shard ", o_.shard, " of ",
                                o_.shards, " has only ", i, " windows in an epoch");
      ++stream_->it;
    }
  }

  const tokenizers::tokenizer<Model>* tok_;
  pipeline_options o_;
  std::size_t max_positions_;
  pipeline_position pos_;
  std::unique_ptr<stream_state> stream_;
};

}  // namespace autodidact::data
