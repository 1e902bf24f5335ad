#pragma once
// BERT's WordPiece tokenizer, equal to Hugging Face tokenizers' BertNormalizer
// + BertPreTokenizer + WordPiece model + WordPiece decoder:
//   normalize: drop NUL, U+FFFD and control/format/unassigned characters,
//              whitespace -> ' ', pad CJK ideographs with spaces, NFD and
//              drop non-spacing marks (accent stripping), lower-case;
//   split:     on whitespace, and around every punctuation character;
//   words:     greedy longest-match-first over the vocabulary, pieces after
//              the first prefixed "##"; a word of more than 100 characters,
//              or one that cannot be covered, becomes [UNK].
// Offsets are characters of the original text.

#include <algorithm>    // for std::stable_sort, std::min
#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::uint32_t
#include <optional>     // for std::optional
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <utility>      // for std::move
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"             // for autodidact::require, format_error
#include "autodidact/tokenizers/encoding.hpp"    // for token, offset, token_id
#include "autodidact/tokenizers/tokenizer.hpp"   // for tokenizer, added_token, post_processor
#include "autodidact/tokenizers/unicode.hpp"     // for the character classes
#include "autodidact/tokenizers/vocabulary.hpp"  // for vocabulary, load_vocab_txt

namespace autodidact::tokenizers {

struct bert_normalizer_options {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // nullopt: follow `lowercase`
  bool lowercase = true;
};

struct wordpiece_options {
  bert_normalizer_options normalizer;
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
  bool decoder_cleanup = true;  // the WordPiece decoder's " ." -> "." etc.
};

namespace detail {
struct normalized_char {
  char32_t c;
  std::uint32_t source;  // index of the original character it came from
};

// The BERT normalizer over one text; each output character remembers the
// original character it came from (HF's alignments). Returns whether
// canonical ordering moved a combining mark (whose offsets may then differ
// from HF's, see docs/tokenizers.md).
inline bool bert_normalize(std::string_view text, const bert_normalizer_options& o, std::vector<normalized_char>& out) {
  out.clear();
  const bool strip = o.strip_accents.value_or(o.lowercase);
  std::uint32_t ci = 0;
  std::size_t pos = 0;
  std::size_t run_start = 0;  // start of the current run of non-starters (for canonical ordering)
  bool reordered = false;
  auto emit = [&](char32_t c, std::uint32_t src) {
    if (!strip) {
      out.push_back({c, src});
      return;
    }
    char32_t d[8];
    const int n = c < 0xC0 ? (d[0] = c, 1) : unicode::decompose(c, d);
    for (int k = 0; k < n; ++k) {
      const int ccc = d[k] < 0x300 ? 0 : unicode::combining_class(d[k]);
      if (ccc == 0) {
        out.push_back({d[k], src});
        run_start = out.size();
      } else {
        // canonical ordering: insert after the non-starters of lower or equal class
        std::size_t at = out.size();
        while (at > run_start && unicode::combining_class(out[at - 1].c) > ccc) --at;
        reordered |= at != out.size();
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), normalized_char{d[k], src});
        // HF's alignments follow positions, not characters: the sources stay in order
        for (std::size_t m = at; m + 1 < out.size(); ++m) out[m].source = out[m + 1].source;
        out.back().source = src;
      }
    }
  };
  while (pos < text.size()) {
    char32_t c;
    bool bad;
    const unsigned char b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      c = b;
      ++pos;
    } else {
      pos += unicode::decode(text, pos, c, bad);
    }
    const std::uint32_t src = ci++;
    if (o.clean_text) {
      if (c < 0x80) {
        if (c == 0 || c == 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) continue;
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
      } else if (unicode::is_bert_removed(c)) {
        continue;
      } else if (unicode::is_white_space(c)) {
        c = ' ';
      }
    }
    if (o.handle_chinese_chars && c >= 0x3400 && unicode::is_bert_chinese(c)) {
      emit(' ', src);
      emit(c, src);
      emit(' ', src);
      continue;
    }
    emit(c, src);
  }
  if (strip) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < out.size(); ++r) {
      const char32_t c = out[r].c;
      if (unicode::is_bert_accent(c)) continue;
      out[w++] = out[r];
    }
    out.resize(w);
  }
  if (o.lowercase) {
    bool expanded = false;
    for (auto& nc : out) {
      if (nc.c < 0x80) {
        if (nc.c >= 'A' && nc.c <= 'Z') nc.c += 32;
      } else if (nc.c == 0x130) {
        expanded = true;
      } else {
        char32_t l[2];
        unicode::to_lower(nc.c, l);
        nc.c = l[0];
      }
    }
    if (expanded) {
      std::vector<normalized_char> copy;
      copy.reserve(out.size() + 4);
      for (const auto& nc : out) {
        if (nc.c == 0x130) {
          copy.push_back({'i', nc.source});
          copy.push_back({0x307, nc.source});
        } else {
          copy.push_back(nc);
        }
      }
      out = std::move(copy);
    }
  }
  return reordered;
}
}  // namespace detail

class wordpiece_model {
 public:
  wordpiece_model() = default;
  wordpiece_model(vocabulary vocab, wordpiece_options options = {}) : vocab_(std::move(vocab)), options_(std::move(options)) {
    auto unk = vocab_.find(options_.unk_token);
    require<format_error>(unk.has_value(), "wordpiece: the unknown token '", options_.unk_token,
                          "' is not in the vocabulary of ", vocab_.size(), " tokens");
    unk_id_ = *unk;
  }

  const vocabulary& vocab() const noexcept { return vocab_; }
  const wordpiece_options& options() const noexcept { return options_; }
  token_id unk_id() const noexcept { return unk_id_; }

  // Appends the tokens of `text` (no added tokens inside); offsets are
  // characters, counted from `char_base`.
  void encode_segment(std::string_view text, std::size_t char_base, std::vector<token>& out) const {
    thread_local std::vector<detail::normalized_char> norm;
    detail::bert_normalize(text, options_.normalizer, norm);
    std::size_t i = 0;
    const std::size_t n = norm.size();
    while (i < n) {
      const char32_t c = norm[i].c;
      if (c == ' ' || (c >= 0x80 && unicode::is_white_space(c)) || (c >= 9 && c <= 13)) {
        ++i;
        continue;
      }
      if (unicode::is_bert_punctuation(c)) {
        encode_word(norm, i, i + 1, char_base, out);
        ++i;
        continue;
      }
      std::size_t j = i + 1;
      while (j < n) {
        const char32_t d = norm[j].c;
        if (d == ' ' || (d >= 9 && d <= 13) || (d >= 0x80 && unicode::is_white_space(d)) || unicode::is_bert_punctuation(d)) break;
        ++j;
      }
      encode_word(norm, i, j, char_base, out);
      i = j;
    }
  }

  // WordPiece decoder: "##" pieces join the previous one, others get a
  // space; with cleanup, " ." -> "." and the like (per token, as HF does).
  std::string decode(const std::vector<std::string_view>& tokens) const {
    std::string out;
    const std::string& prefix = options_.continuing_subword_prefix;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string t;
      if (i != 0) {
        if (tokens[i].substr(0, prefix.size()) == prefix) t = std::string(tokens[i].substr(prefix.size()));
        else {
          t.reserve(tokens[i].size() + 1);
          t.push_back(' ');
          t.append(tokens[i]);
        }
      } else {
        t = std::string(tokens[i]);
      }
      if (options_.decoder_cleanup) t = cleanup(t);
      out += t;
    }
    return out;
  }

  static std::string cleanup(std::string s) {
    static const std::pair<std::string_view, std::string_view> rules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},          {" ,", ","},   {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) {
      std::size_t p = 0;
      std::string r;
      bool any = false;
      while (true) {
        const std::size_t q = s.find(from, p);
        if (q == std::string::npos) break;
        any = true;
        r.append(s, p, q - p);
        r.append(to);
        p = q + from.size();
      }
      if (any) {
        r.append(s, p, std::string::npos);
        s = std::move(r);
      }
    }
    return s;
  }

 private:
  void encode_word(const std::vector<detail::normalized_char>& norm, std::size_t b, std::size_t e, std::size_t char_base,
                   std::vector<token>& out) const {
    const offset whole{char_base + norm[b].source, char_base + norm[e - 1].source + 1};
    if (e - b > options_.max_input_chars_per_word) {
      out.push_back(token{unk_id_, whole});
      return;
    }
    thread_local std::string word;
    thread_local std::vector<std::uint32_t> char_at;  // byte offset of each character in `word`
    word.clear();
    char_at.clear();
    for (std::size_t k = b; k < e; ++k) {
      char_at.push_back(static_cast<std::uint32_t>(word.size()));
      unicode::append_utf8(word, norm[k].c);
    }
    char_at.push_back(static_cast<std::uint32_t>(word.size()));
    const std::size_t first = out.size();
    const std::size_t nchars = e - b;
    thread_local std::string piece;
    std::size_t start = 0;
    const std::size_t max_bytes = vocab_.max_token_bytes();
    while (start < nchars) {
      std::size_t end = nchars;
      std::optional<token_id> found;
      while (end > start) {
        const std::size_t bytes = char_at[end] - char_at[start];
        if (bytes <= max_bytes) {
          std::string_view sub(word.data() + char_at[start], bytes);
          if (start > 0) {
            piece.assign(options_.continuing_subword_prefix);
            piece.append(sub);
            found = vocab_.find(piece);
          } else {
            found = vocab_.find(sub);
          }
          if (found) break;
        }
        --end;
      }
      if (!found) {
        out.resize(first);
        out.push_back(token{unk_id_, whole});
        return;
      }
      out.push_back(token{*found, offset{char_base + norm[b + start].source, char_base + norm[b + end - 1].source + 1}});
      start = end;
    }
  }

  vocabulary vocab_;
  wordpiece_options options_;
  token_id unk_id_ = 0;
};

using wordpiece_tokenizer = tokenizer<wordpiece_model>;

// BERT's special tokens found in a vocabulary, as added tokens.
inline std::vector<added_token> bert_special_tokens(const vocabulary& v) {
  std::vector<added_token> out;
  for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (auto id = v.find(t)) out.push_back(added_token{t, *id, true});
  return out;
}

// A BERT tokenizer from vocab.txt: lower-casing and accent stripping as
// asked, [CLS] $A [SEP] ($B [SEP]) templates, [PAD] [UNK] [CLS] [SEP]
// [MASK] as special tokens. Needs [UNK], [CLS] and [SEP] in the file.
// (Repeated lines: see load_vocab_txt; tokenizer.vocab().duplicates() lists
// them.)
inline wordpiece_tokenizer wordpiece_vocab_from_string(std::string_view text, const std::string& vocab_txt,
                                                       wordpiece_options options = {});
inline wordpiece_tokenizer load_wordpiece_vocab(const std::string& vocab_txt, wordpiece_options options = {}) {
  return wordpiece_vocab_from_string(detail::read_file(vocab_txt), vocab_txt, std::move(options));
}
// The same from the text of a vocab.txt held in memory (`vocab_txt` names it).
inline wordpiece_tokenizer wordpiece_vocab_from_string(std::string_view text, const std::string& vocab_txt,
                                                       wordpiece_options options) {
  vocabulary v = vocab_txt_from_string(text, vocab_txt);
  for (const char* t : {"[CLS]", "[SEP]"})
    require<format_error>(v.contains(t), vocab_txt, ": the BERT special token ", t, " is missing from the vocabulary");
  require<format_error>(v.contains(options.unk_token), vocab_txt, ": the unknown token ", options.unk_token,
                        " is missing from the vocabulary");
  post_processor post = post_processor::bert(v.id("[CLS]"), v.id("[SEP]"));
  auto added = bert_special_tokens(v);
  return wordpiece_tokenizer(wordpiece_model(std::move(v), std::move(options)), std::move(added), std::move(post));
}

}  // namespace autodidact::tokenizers
