#pragma once
// Tokenizing the corpus line by line for pretraining: each line's ids
// without the post-processor's [CLS]/[SEP] (the window stage places those),
// and per token whether it starts a word (whole-word masking needs it) and
// whether it is special (never masked, never a prediction target).
//
//   auto lines = data::read_corpus(files) | data::views::tokenize(tok);
//   for (const data::tokenized_line& l : lines) ...   // l.ids, l.word_start, l.special
//
// Word starts: WordPiece — a token that does not begin with the
// continuation prefix ("##"); byte-level BPE — a token that begins with
// 'Ġ' (U+0120, GPT-2's encoded space), or the first token of the line or
// after a special token. Special: the tokenizer's special added tokens
// ([CLS], [SEP], [MASK], [UNK], [PAD], <|endoftext|>) where they occur in
// the text; as in Hugging Face's special_tokens_mask, [UNK] counts as special.

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int32_t, std::uint8_t, std::uint64_t
#include <memory>       // for std::shared_ptr, std::make_shared
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::is_same_v
#include <vector>       // for std::vector

#include <range/v3/view/transform.hpp>  // for ranges::views::transform

#include "autodidact/data/corpus.hpp"                // for corpus_line
#include "autodidact/tokenizers/byte_level_bpe.hpp"  // for byte_level_bpe_model
#include "autodidact/tokenizers/encoding.hpp"        // for token, token_id
#include "autodidact/tokenizers/tokenizer.hpp"       // for tokenizer
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_model

namespace autodidact::data {

// One corpus line as tokens.
struct tokenized_line {
  std::vector<std::int32_t> ids;         // [n] token ids, no [CLS]/[SEP] added
  std::vector<std::uint8_t> word_start;  // [n] 1 if the token starts a word (0 for special tokens)
  std::vector<std::uint8_t> special;     // [n] 1 if the token is a special token of the tokenizer
  std::uint64_t document = 0;            // as corpus_line
  std::uint32_t file = 0;
  std::uint64_t line = 0;
};

// Whether the data stage knows how a tokenizer model marks word starts.
template <class Model>
inline constexpr bool known_word_rule = std::is_same_v<Model, tokenizers::wordpiece_model> ||
                                        std::is_same_v<Model, tokenizers::byte_level_bpe_model>;

// Tokenizes lines; cheap to copy (a views::transform function object).
// The tokenizer must outlive it.
template <class Model>
class line_tokenizer {
  static_assert(known_word_rule<Model>,
                "data::line_tokenizer knows where words start for WordPiece and byte-level BPE only; "
                "add the rule for a new tokenizer model in data/tokenize.hpp.");

 public:
  explicit line_tokenizer(const tokenizers::tokenizer<Model>& tok)
      : tok_(&tok), starts_(std::make_shared<std::vector<std::uint8_t>>()) {
    // The word-start rule depends only on the token's text: one table, made once.
    const auto& v = tok.vocab();
    starts_->assign(v.id_bound(), 0);
    for (std::size_t id = 0; id < v.id_bound(); ++id) {
      const auto i = static_cast<tokenizers::token_id>(id);
      if (!v.has_id(i)) continue;
      const std::string& t = v.token(i);
      if constexpr (std::is_same_v<Model, tokenizers::wordpiece_model>) {
        const std::string& prefix = tok.model().options().continuing_subword_prefix;
        (*starts_)[id] = t.compare(0, prefix.size(), prefix) != 0;
      } else {
        (*starts_)[id] = t.compare(0, 2, "\xC4\xA0") == 0;  // 'Ġ': the byte-level encoding of ' '
      }
    }
  }

  // The tokens of one line of text into `out` (its buffers are reused).
  void operator()(std::string_view text, tokenized_line& out) const {
    thread_local std::vector<tokenizers::token> tokens;
    tokens.clear();
    // The tokens before post-processing: encode() with add_special_tokens =
    // false gives the same ids, without building offsets and masks.
    tok_->encode_tokens(text, tokens);
    const std::size_t n = tokens.size();
    out.ids.resize(n);
    out.word_start.resize(n);
    out.special.resize(n);
    bool after_boundary = true;  // the line's start, or just after a special token
    for (std::size_t i = 0; i < n; ++i) {
      const tokenizers::token_id id = tokens[i].id;
      const bool special = tok_->is_special(id);
      bool starts = false;
      if (!special) {
        // an id beyond the vocabulary (an added, non-special token) is a word of its own
        starts = static_cast<std::size_t>(id) < starts_->size()
                     ? (*starts_)[static_cast<std::size_t>(id)] != 0
                     : true;
        if constexpr (std::is_same_v<Model, tokenizers::byte_level_bpe_model>)
          starts = starts || after_boundary;
      }
      out.ids[i] = id;
      out.word_start[i] = starts;
      out.special[i] = special;
      after_boundary = special;
    }
  }

  tokenized_line operator()(const corpus_line& line) const {
    tokenized_line out;
    (*this)(line.text, out);
    out.document = line.document;
    out.file = line.file;
    out.line = line.line;
    return out;
  }

 private:
  const tokenizers::tokenizer<Model>* tok_;
  std::shared_ptr<std::vector<std::uint8_t>> starts_;  // [V] word-start flag per id
};

namespace views {
// corpus_line -> tokenized_line, lazily (a range-v3 transform). The
// tokenizer must outlive the view.
template <class Model>
auto tokenize(const tokenizers::tokenizer<Model>& tok) {
  return ranges::views::transform(line_tokenizer<Model>(tok));
}
}  // namespace views

}  // namespace autodidact::data
