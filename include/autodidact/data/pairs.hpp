#pragma once
// Sentence pairs for the sentence-level objectives (NSP, SOP) and BERT's
// original pretraining input: "[CLS] A [SEP] B [SEP]", segment 0 for [CLS],
// A and its [SEP], segment 1 for B and the last [SEP]. A is one or more
// consecutive lines of a document and B the lines that follow them, as in
// BERT's create_instances_from_document, without its randomness:
//
//   - lines of one document gather into a chunk until the chunk holds
//     T - 3 tokens or the document ends;
//   - a chunk of at least two lines splits at the line boundary nearest to
//     half its tokens (at least one line on each side); a one-line chunk
//     makes no pair (BERT pairs it with a random B; that is NSP's business);
//   - the longer of A and B loses tokens from its end until [CLS] A [SEP]
//     B [SEP] fits T.
//
//   auto pairs = data::read_corpus(files) | data::views::tokenize(tok)
//              | data::views::pairs(data::bert_window_options(tok, 128), C.max_positions);
//   for (const data::window& w : pairs) ...   // w.b_follows == true; A = [w.a_begin, w.a_end), B =
//   [w.b_begin, w.b_end)
//
// Every pair here has b_follows = true; the ranges of A and B let NSP put a
// random B in, and SOP swap A and B. Memory: one chunk (about T tokens,
// plus one line).

#include <algorithm>  // for std::copy_n
#include <cstddef>    // for std::size_t, std::ptrdiff_t
#include <cstdint>    // for std::int32_t, std::uint64_t
#include <string>     // for std::string
#include <utility>    // for std::move, std::swap
#include <vector>     // for std::vector

#include <range/v3/range/access.hpp>    // for ranges::begin, ranges::end
#include <range/v3/range/concepts.hpp>  // for ranges::input_range
#include <range/v3/range/traits.hpp>    // for ranges::iterator_t
#include <range/v3/view/all.hpp>        // for ranges::views::all, ranges::views::all_t
#include <range/v3/view/view.hpp>       // for ranges::make_view_closure

#include "autodidact/core/error.hpp"                  // for autodidact::require, format_error
#include "autodidact/data/detail/generator_view.hpp"  // for detail::generator_view
#include "autodidact/data/tokenize.hpp"               // for tokenized_line
#include "autodidact/data/windows.hpp"                // for window, window_options, check_window_options

namespace autodidact::data {

// The source behind views::pairs.
template <class Rng>
class pair_packer {
  static_assert(ranges::input_range<Rng>, "data::pair_packer needs an input range of tokenized_line.");

 public:
  pair_packer(Rng base, window_options options, std::size_t max_positions, std::string what = "the corpus")
      : base_(std::move(base)), o_(std::move(options)), what_(std::move(what)) {
    check_window_options(o_, max_positions, /*pairs=*/true);
    budget_ = o_.length - 3;
  }

  void advance() {
    if (!begun_) {
      begun_ = true;
      it_ = ranges::begin(base_);
    }
    for (;;) {
      if (pending_) {
        if (pending_line_.document != document_ && chunk_size_ > 0) {  // the document ended: close its chunk
          if (close_chunk()) return;
          continue;
        }
        pending_ = false;
        document_ = pending_line_.document;
        if (pending_line_.ids.empty()) continue;  // a line of no tokens is no sentence
        if (chunk_size_ == chunk_.size()) chunk_.emplace_back();
        std::swap(chunk_[chunk_size_++], pending_line_);  // reuses the chunk's buffers
        chunk_tokens_ += chunk_[chunk_size_ - 1].ids.size();
        tokens_ += chunk_[chunk_size_ - 1].ids.size();
        if (chunk_tokens_ >= budget_ && close_chunk()) return;
        continue;
      }
      if (upstream_done_) {
        if (chunk_size_ > 0) {
          if (close_chunk()) return;
          continue;
        }
        finish();
        return;
      }
      if (it_ == ranges::end(base_)) {
        upstream_done_ = true;
        continue;
      }
      pending_line_ = *it_;
      ++it_;
      pending_ = true;
    }
  }
  bool done() const noexcept { return done_; }
  const window& value() const noexcept { return out_; }

  std::uint64_t windows() const noexcept { return next_index_; }      // pairs produced so far
  std::uint64_t skipped_chunks() const noexcept { return skipped_; }  // one-line chunks, no pair
  std::uint64_t tokens() const noexcept { return tokens_; }           // text tokens read so far

 private:
  // Makes a pair of the chunk if it can; empties the chunk.
  bool close_chunk() {
    const std::size_t n = chunk_size_;
    const std::size_t total = chunk_tokens_;
    chunk_size_ = 0;
    chunk_tokens_ = 0;
    if (n < 2) {
      ++skipped_;
      return false;
    }
    // the split: the line boundary s (1 <= s < n) whose prefix is nearest to half the tokens
    std::size_t s = 1, prefix = chunk_[0].ids.size(), best_prefix = prefix;
    for (std::size_t k = 1, acc = prefix; k < n; acc += chunk_[k].ids.size(), ++k) {
      const auto gap = [&](std::size_t p) { return p * 2 > total ? p * 2 - total : total - p * 2; };
      if (gap(acc) < gap(best_prefix)) {
        best_prefix = acc;
        s = k;
      }
    }
    std::size_t a = best_prefix, b = total - best_prefix;
    while (a + b > budget_) {  // longest first, from the end
      if (a > b)
        --a;
      else
        --b;
    }
    window& w = out_;
    detail::clear_window(w, o_.length, o_.pad_id);
    std::size_t at = 0;
    auto put_special = [&](std::int32_t id, std::int32_t segment) {
      w.ids[at] = id;
      w.segments[at] = segment;
      ++at;
    };
    std::size_t eligible = 0;
    auto copy_lines = [&](std::size_t first, std::size_t last, std::size_t count, std::int32_t segment) {
      for (std::size_t k = first; k < last && count > 0; ++k) {
        const tokenized_line& l = chunk_[k];
        const std::size_t m = l.ids.size() < count ? l.ids.size() : count;
        std::copy_n(l.ids.begin(), m, w.ids.begin() + static_cast<std::ptrdiff_t>(at));
        std::copy_n(l.word_start.begin(), m, w.word_start.begin() + static_cast<std::ptrdiff_t>(at));
        std::copy_n(l.special.begin(), m, w.special.begin() + static_cast<std::ptrdiff_t>(at));
        for (std::size_t j = 0; j < m; ++j) {
          w.segments[at + j] = segment;
          eligible += l.special[j] == 0;
        }
        at += m;
        count -= m;
      }
    };
    put_special(*o_.first_token, 0);
    w.a_begin = static_cast<std::int32_t>(at);
    copy_lines(0, s, a, 0);
    w.a_end = static_cast<std::int32_t>(at);
    put_special(*o_.separator, 0);
    w.b_begin = static_cast<std::int32_t>(at);
    copy_lines(s, n, b, 1);
    w.b_end = static_cast<std::int32_t>(at);
    put_special(*o_.separator, 1);
    w.length = static_cast<std::int32_t>(at);
    w.b_follows = true;
    if (eligible == 0) return false;  // nothing to predict: not a training example
    w.index = next_index_++;
    return true;
  }

  void finish() {
    require<format_error>(tokens_ > 0, "data: ", what_,
                          " yields no tokens: every line is empty after tokenization; expected text the "
                          "tokenizer can encode");
    require<format_error>(next_index_ > 0, "data: ", what_,
                          " yields no sentence pair with a token eligible for masking or prediction (",
                          tokens_, " tokens; ", skipped_,
                          " chunks of a single line make no pair): expected documents of at least two lines");
    done_ = true;
  }

  Rng base_;
  window_options o_;
  std::string what_;
  std::size_t budget_ = 0;  // T - 3: the text tokens of A and B together
  ranges::iterator_t<Rng> it_{};
  bool begun_ = false;
  bool upstream_done_ = false;
  bool done_ = false;
  tokenized_line pending_line_;  // read, not yet in the chunk
  bool pending_ = false;
  std::uint64_t document_ = 0;
  std::vector<tokenized_line> chunk_;  // [0, chunk_size_) in use; the rest keeps its buffers
  std::size_t chunk_size_ = 0;
  std::size_t chunk_tokens_ = 0;
  window out_;
  std::uint64_t next_index_ = 0;
  std::uint64_t skipped_ = 0;
  std::uint64_t tokens_ = 0;
};

namespace views {
// tokenized lines -> sentence pairs (a single-pass view of windows).
inline auto pairs(window_options options, std::size_t max_positions, std::string what = "the corpus") {
  check_window_options(options, max_positions, /*pairs=*/true);
  return ranges::make_view_closure([options, max_positions, what](auto&& lines) {
    using base = ranges::views::all_t<decltype(lines)>;
    return detail::make_generator_view<pair_packer<base>>(
        ranges::views::all(static_cast<decltype(lines)&&>(lines)), options, max_positions, what);
  });
}
}  // namespace views

}  // namespace autodidact::data
