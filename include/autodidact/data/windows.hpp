#pragma once
// Packing a stream of tokenized lines into fixed-length windows of T
// tokens, the unit of pretraining. BERT: "[CLS] doc1 [SEP] doc2 [SEP] ..."
// (first token [CLS], separator [SEP]); GPT-2: "doc1 <|endoftext|> doc2
// <|endoftext|> ..." (no first token). By default windows run across
// document boundaries (RoBERTa's FULL-SENTENCES); with cross_documents =
// false a window holds the tokens of one document (DOC-SENTENCES: shorter
// windows, padded). A document longer than a window continues in the next
// one, which starts with the first token again.
//
//   auto windows = data::read_corpus(files) | data::views::tokenize(tok)
//                | data::views::pack(data::bert_window_options(tok, 128), C.max_positions);
//   for (const data::window& w : windows) ...   // w.ids [T], w.length, w.index
//
// Each window carries its index in the epoch's unshuffled stream (0, 1, 2,
// ...): the masker keys its draws by it, so masking does not depend on the
// shuffle, the batch, the shard or the resume point. A window with no token
// that can be masked or predicted (only [CLS]/[SEP]/padding/special tokens)
// is never produced. Memory: one window and one line.

#include <algorithm>  // for std::fill, std::copy_n, std::min
#include <cstddef>    // for std::size_t
#include <cstdint>    // for std::int32_t, std::uint8_t, std::uint64_t
#include <optional>   // for std::optional
#include <string>     // for std::string
#include <utility>    // for std::move, std::swap
#include <vector>     // for std::vector

#include <range/v3/range/access.hpp>    // for ranges::begin, ranges::end
#include <range/v3/range/concepts.hpp>  // for ranges::input_range
#include <range/v3/range/traits.hpp>    // for ranges::iterator_t, ranges::sentinel_t
#include <range/v3/view/all.hpp>        // for ranges::views::all, ranges::views::all_t
#include <range/v3/view/view.hpp>       // for ranges::make_view_closure

#include "autodidact/core/error.hpp"  // for autodidact::require, raise, invalid_argument, format_error
#include "autodidact/data/detail/generator_view.hpp"  // for detail::generator_view
#include "autodidact/data/tokenize.hpp"               // for tokenized_line
#include "autodidact/tokenizers/tokenizer.hpp"        // for tokenizer (the *_window_options helpers)

namespace autodidact::data {

struct window_options {
  std::size_t length = 128;                 // T, counting the first token and the separators
  std::optional<std::int32_t> first_token;  // at position 0 of every window ([CLS]); none for GPT-2
  std::optional<std::int32_t> separator;    // after each document ([SEP], <|endoftext|>); none: nothing
  std::int32_t pad_id = 0;                  // fills [length, T) of a partial window
  bool cross_documents = true;  // consecutive documents share a window; false: one document per window
  bool drop_partial = false;    // the stream's last partial window is dropped instead of padded
};

// BERT's windows for a tokenizer with [CLS], [SEP] and [PAD] (tokenizer_error if one is missing).
template <class Model>
window_options bert_window_options(const tokenizers::tokenizer<Model>& tok, std::size_t length) {
  window_options o;
  o.length = length;
  o.first_token = tok.vocab().id("[CLS]");
  o.separator = tok.vocab().id("[SEP]");
  o.pad_id = tok.vocab().id("[PAD]");
  return o;
}

// GPT-2's windows: no first token, <|endoftext|> after each document and as padding.
template <class Model>
window_options gpt2_window_options(const tokenizers::tokenizer<Model>& tok, std::size_t length) {
  window_options o;
  o.length = length;
  o.separator = tok.vocab().id("<|endoftext|>");
  o.pad_id = *o.separator;
  return o;
}

// Raises invalid_argument if the options cannot make windows for a model
// with `max_positions` learned positions. Pairs need [CLS] A [SEP] B [SEP].
inline void check_window_options(const window_options& o, std::size_t max_positions, bool pairs = false) {
  require<invalid_argument>(max_positions > 0,
                            "data: max_positions is 0: expected the model's max_positions");
  require<invalid_argument>(o.length <= max_positions, "data: window length T = ", o.length,
                            " is larger than the model's max_positions = ", max_positions,
                            ": expected T <= max_positions");
  if (pairs) {
    require<invalid_argument>(o.first_token.has_value() && o.separator.has_value(),
                              "data: sentence pairs need a first token ([CLS]) and a separator ([SEP]) "
                              "in window_options: expected both set");
    require<invalid_argument>(o.length >= 5, "data: window length T = ", o.length,
                              " is too short for a sentence pair: [CLS] A [SEP] B [SEP] needs T >= 5");
    return;
  }
  const std::size_t specials = (o.first_token ? 1 : 0) + (o.separator ? 1 : 0);
  const std::size_t least = specials + 1 > 2 ? specials + 1 : 2;
  require<invalid_argument>(o.length >= least, "data: window length T = ", o.length,
                            " leaves no room for text: ",
                            specials == 2   ? "the first token and the separator take 2 positions"
                            : specials == 1 ? "the first token or separator takes 1 position"
                                            : "a window needs at least 2 tokens to predict one",
                            "; expected T >= ", least);
}

// One training example: T token positions.
struct window {
  std::vector<std::int32_t> ids;         // [T] token ids; pad_id after `length`
  std::vector<std::int32_t> segments;    // [T] segment ids: 0 (pairs: 0 for [CLS] A [SEP], 1 for B [SEP])
  std::vector<std::uint8_t> word_start;  // [T] 1 if the token starts a word (never for specials and padding)
  std::vector<std::uint8_t> special;     // [T] 1 for [CLS], separators, padding, special tokens: never masked
  std::int32_t length = 0;               // real tokens; [length, T) is padding
  std::uint64_t index = 0;               // position in the epoch's unshuffled stream of windows

  // Sentence pairs only (0, 0 / false for packed windows): where A and B
  // are, so the NSP/SOP objectives can swap or replace B.
  std::int32_t a_begin = 0, a_end = 0;  // A's tokens [a_begin, a_end)
  std::int32_t b_begin = 0, b_end = 0;  // B's tokens [b_begin, b_end)
  bool b_follows = false;               // B is the text that follows A in its document

  std::size_t size() const noexcept { return ids.size(); }  // T
  // Tokens a masker may choose (not special, not padding).
  std::size_t eligible() const noexcept {
    std::size_t n = 0;
    for (std::uint8_t s : special) n += s == 0;
    return n;
  }
};

namespace detail {
// Sizes `w` to T positions, all padding.
inline void clear_window(window& w, std::size_t t, std::int32_t pad_id) {
  w.ids.assign(t, pad_id);
  w.segments.assign(t, 0);
  w.word_start.assign(t, 0);
  w.special.assign(t, 1);
  w.length = 0;
  w.a_begin = w.a_end = w.b_begin = w.b_end = 0;
  w.b_follows = false;
}
}  // namespace detail

// The source behind views::pack: fills one window from the lines as they come.
template <class Rng>
class window_packer {
  static_assert(ranges::input_range<Rng>, "data::window_packer needs an input range of tokenized_line.");

 public:
  window_packer(Rng base, window_options options, std::size_t max_positions, std::string what = "the corpus")
      : base_(std::move(base)), o_(std::move(options)), what_(std::move(what)) {
    check_window_options(o_, max_positions);
    t_ = o_.length;
  }

  void advance() {
    if (!begun_) {
      begun_ = true;
      it_ = ranges::begin(base_);
      start_window();
    }
    for (;;) {
      if (fill_ == t_) {  // a full window
        if (emit()) return;
        continue;
      }
      if (document_end_) {  // the separator of the document that just ended
        document_end_ = false;
        document_tokens_ = 0;
        if (o_.separator) put(*o_.separator, 0, 1);
        if (!o_.cross_documents && fill_ > prefix()) {
          if (emit()) return;
        }
        continue;
      }
      if (pos_ < line_.ids.size()) {  // copy what fits of the current line
        const std::size_t n = std::min(t_ - fill_, line_.ids.size() - pos_);
        std::copy_n(line_.ids.begin() + static_cast<std::ptrdiff_t>(pos_), n,
                    window_.ids.begin() + static_cast<std::ptrdiff_t>(fill_));
        std::copy_n(line_.word_start.begin() + static_cast<std::ptrdiff_t>(pos_), n,
                    window_.word_start.begin() + static_cast<std::ptrdiff_t>(fill_));
        std::copy_n(line_.special.begin() + static_cast<std::ptrdiff_t>(pos_), n,
                    window_.special.begin() + static_cast<std::ptrdiff_t>(fill_));
        for (std::size_t k = 0; k < n; ++k) eligible_in_window_ += line_.special[pos_ + k] == 0;
        fill_ += n;
        pos_ += n;
        document_tokens_ += n;
        tokens_ += n;
        continue;
      }
      if (upstream_done_) {  // the end of the stream: the last partial window
        if (fill_ > prefix() && !o_.drop_partial && emit()) return;
        finish();
        return;
      }
      if (it_ == ranges::end(base_)) {
        upstream_done_ = true;
        document_end_ = document_tokens_ > 0;
        continue;
      }
      line_ = *it_;
      ++it_;
      pos_ = 0;
      if (line_.document != document_) {
        document_end_ = document_tokens_ > 0;  // a document whose lines have no tokens gets no separator
        document_ = line_.document;
      }
    }
  }
  bool done() const noexcept { return done_; }
  const window& value() const noexcept { return out_; }

  std::uint64_t windows() const noexcept { return next_index_; }  // windows produced so far
  std::uint64_t tokens() const noexcept { return tokens_; }       // text tokens placed so far

 private:
  std::size_t prefix() const noexcept { return o_.first_token ? 1 : 0; }

  void put(std::int32_t id, std::uint8_t word_start, std::uint8_t special) {
    window_.ids[fill_] = id;
    window_.word_start[fill_] = word_start;
    window_.special[fill_] = special;
    eligible_in_window_ += special == 0;
    ++fill_;
  }

  void start_window() {
    detail::clear_window(window_, t_, o_.pad_id);
    fill_ = 0;
    eligible_in_window_ = 0;
    if (o_.first_token) put(*o_.first_token, 0, 1);
  }

  // Hands the window out (padded after fill_) unless nothing in it can be
  // predicted; starts the next one. Returns whether a window was produced.
  bool emit() {
    const bool keep = eligible_in_window_ > 0;
    if (keep) {
      window_.length = static_cast<std::int32_t>(fill_);
      window_.index = next_index_++;
      std::swap(out_, window_);  // no copy: the old output's buffers become the next window
    }
    start_window();
    return keep;
  }

  void finish() {
    require<format_error>(tokens_ > 0, "data: ", what_,
                          " yields no tokens: every line is empty after tokenization; expected text the "
                          "tokenizer can encode");
    if (next_index_ == 0) {
      const std::string why =
          o_.drop_partial
              ? ", or too few to fill one window of T = " + std::to_string(t_) + " with drop_partial set"
              : std::string();
      raise<format_error>("data: ", what_,
                          " yields no window with a token eligible for masking or prediction (", tokens_,
                          " tokens, all special", why, ")");
    }
    done_ = true;
  }

  Rng base_;
  window_options o_;
  std::string what_;
  std::size_t t_ = 0;
  ranges::iterator_t<Rng> it_{};
  bool begun_ = false;
  bool upstream_done_ = false;
  bool done_ = false;
  tokenized_line line_;  // the line being copied, from pos_
  std::size_t pos_ = 0;
  std::uint64_t document_ = 0;
  std::size_t document_tokens_ = 0;
  bool document_end_ = false;
  window window_;  // being filled, up to fill_
  std::size_t fill_ = 0;
  std::size_t eligible_in_window_ = 0;
  window out_;  // the last window produced
  std::uint64_t next_index_ = 0;
  std::uint64_t tokens_ = 0;
};

namespace views {
// tokenized lines -> windows (a single-pass view). `what` names the
// corpus in errors. check_window_options runs when the view is made.
inline auto pack(window_options options, std::size_t max_positions, std::string what = "the corpus") {
  check_window_options(options, max_positions);
  return ranges::make_view_closure([options, max_positions, what](auto&& lines) {
    using base = ranges::views::all_t<decltype(lines)>;
    return detail::make_generator_view<window_packer<base>>(
        ranges::views::all(static_cast<decltype(lines)&&>(lines)), options, max_positions, what);
  });
}
}  // namespace views

}  // namespace autodidact::data
