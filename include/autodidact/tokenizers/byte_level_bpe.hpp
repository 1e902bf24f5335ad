#pragma once
// GPT-2's byte-level BPE, equal to Hugging Face tokenizers' ByteLevel
// pre-tokenizer (add_prefix_space = false, GPT-2 regex) + BPE model +
// ByteLevel decoder:
//   split:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   bytes:  every byte of a piece becomes one printable character
//           (GPT-2's byte-to-unicode map), so any input round-trips;
//   merges: the adjacent pair of lowest rank is merged first (leftmost on ties).
// Offsets are characters of the original text; a token that covers part of
// a multi-byte character spans that whole character (as in HF).

#include <array>          // for std::array
#include <cstddef>        // for std::size_t
#include <cstdint>        // for std::uint32_t, std::uint64_t
#include <string>         // for std::string
#include <string_view>    // for std::string_view
#include <unordered_map>  // for std::unordered_map
#include <utility>        // for std::pair, std::move
#include <vector>         // for std::vector

#include "autodidact/core/error.hpp"             // for autodidact::require, format_error
#include "autodidact/tokenizers/encoding.hpp"    // for token, offset, token_id
#include "autodidact/tokenizers/tokenizer.hpp"   // for tokenizer, added_token, post_processor
#include "autodidact/tokenizers/unicode.hpp"     // for the GPT-2 character classes
#include "autodidact/tokenizers/vocabulary.hpp"  // for vocabulary, load_vocab_json, load_merges_txt

namespace autodidact::tokenizers {

// GPT-2's byte -> code point map: printable Latin-1 bytes map to
// themselves, the other 68 to U+0100.. in byte order.
inline const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

// The inverse map (code point -> byte), -1 where none.
inline int unicode_to_byte(char32_t c) {
  static const std::array<short, 324> table = [] {
    std::array<short, 324> t{};
    t.fill(-1);
    const auto& f = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[f[static_cast<std::size_t>(b)]] = static_cast<short>(b);
    return t;
  }();
  return c < 324 ? table[c] : -1;
}

// The UTF-8 form of a byte string in GPT-2's byte-level alphabet.
inline std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) unicode::append_utf8(out, byte_to_unicode()[b]);
  return out;
}

namespace detail {
// Splits text by the GPT-2 pattern; calls f(begin_byte, end_byte) per piece.
template <class F>
void gpt2_split(std::string_view text, F&& f) {
  const std::size_t n = text.size();
  auto at = [&](std::size_t pos, char32_t& c) -> std::size_t {
    const unsigned char b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      c = b;
      return 1;
    }
    bool bad;
    return unicode::decode(text, pos, c, bad);
  };
  enum cls { letter, number, space, other };
  auto classify = [](char32_t c) -> cls {
    if (c < 0x80) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return letter;
      if (c >= '0' && c <= '9') return number;
      if (c == ' ' || (c >= 9 && c <= 13)) return space;
      return other;
    }
    if (unicode::is_gpt2_letter(c)) return letter;
    if (unicode::is_gpt2_number(c)) return number;
    if (unicode::is_gpt2_space(c)) return space;
    return other;
  };
  std::size_t pos = 0;
  while (pos < n) {
    // contractions
    if (text[pos] == '\'' && pos + 1 < n) {
      const char a = text[pos + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        f(pos, pos + 2);
        pos += 2;
        continue;
      }
      if (pos + 2 < n) {
        const char b = text[pos + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          f(pos, pos + 3);
          pos += 3;
          continue;
        }
      }
    }
    std::size_t j = pos;
    if (text[j] == ' ' && j + 1 < n) ++j;
    char32_t c;
    std::size_t len = at(j, c);
    cls k = classify(c);
    if (j != pos && k == space) {  // the optional space is not followed by L, N or other
      j = pos;
      len = at(j, c);
      k = space;
    }
    if (k != space) {
      std::size_t e = j + len;
      while (e < n) {
        char32_t d;
        const std::size_t l = at(e, d);
        const cls kd = classify(d);
        if (k == other ? kd != other : kd != k) break;
        e += l;
      }
      f(pos, e);
      pos = e;
      continue;
    }
    // whitespace run [pos, e)
    std::size_t e = pos, last = pos;
    while (e < n) {
      char32_t d;
      const std::size_t l = at(e, d);
      if (classify(d) != space) break;
      last = e;
      e += l;
    }
    if (e == n) {  // \s+(?!\S) takes the whole run at the end
      f(pos, e);
      pos = e;
    } else if (last > pos) {  // leave the last whitespace character for the next piece
      f(pos, last);
      pos = last;
    } else {  // \s+ of one character
      f(pos, e);
      pos = e;
    }
  }
}
}  // namespace detail

class byte_level_bpe_model {
 public:
  byte_level_bpe_model() = default;
  // vocab: tokens in the byte-level alphabet; merges: pairs, highest
  // priority first. `what` names the source in errors.
  byte_level_bpe_model(vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                       const std::string& what = "merges")
      : vocab_(std::move(vocab)) {
    const auto& f = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, f[static_cast<std::size_t>(b)]);
      auto id = vocab_.find(s);
      byte_ids_[static_cast<std::size_t>(b)] = id ? *id : -1;
    }
    merges_.reserve(merges.size() * 2);
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
      require<format_error>(ia && ib, what, ": merge ", r + 1, " ('", a, " ", b, "'): token '", ia ? b : a,
                            "' is not in the vocabulary");
      require<format_error>(im.has_value(), what, ": merge ", r + 1, " ('", a, " ", b, "'): the merged token '", a + b,
                            "' is not in the vocabulary");
      merges_.emplace(key(*ia, *ib), std::pair<std::uint32_t, token_id>{static_cast<std::uint32_t>(r), *im});
    }
    merge_list_ = merges;
  }

  const vocabulary& vocab() const noexcept { return vocab_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const noexcept { return merge_list_; }

  void encode_segment(std::string_view text, std::size_t char_base, std::vector<token>& out) const {
    // character index of every byte of the segment
    auto& char_of = char_index();
    char_of.resize(text.size());
    std::uint32_t ci = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && i > 0) ++ci;
      char_of[i] = ci;
    }
    detail::gpt2_split(text, [&](std::size_t b, std::size_t e) { encode_piece(text, b, e, char_base, out); });
  }

  // ByteLevel decoder: characters back to bytes (a token with a character
  // outside the byte alphabet, e.g. an added token, keeps its own bytes),
  // then invalid UTF-8 becomes U+FFFD.
  std::string decode(const std::vector<std::string_view>& tokens) const {
    std::string bytes;
    for (std::string_view t : tokens) {
      std::string mapped;
      bool ok = true;
      for (std::size_t p = 0; p < t.size();) {
        char32_t c;
        bool bad;
        p += unicode::decode(t, p, c, bad);
        const int b = bad ? -1 : unicode_to_byte(c);
        if (b < 0) {
          ok = false;
          break;
        }
        mapped.push_back(static_cast<char>(b));
      }
      bytes += ok ? mapped : std::string(t);
    }
    return unicode::replace_invalid_utf8(bytes);
  }

 private:
  static std::uint64_t key(token_id a, token_id b) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  static std::vector<std::uint32_t>& char_index() {
    thread_local std::vector<std::uint32_t> v;  // character index of each byte of the current segment
    return v;
  }
  struct symbol {
    token_id id;
    std::uint32_t begin, end;  // bytes of the segment
  };

  void encode_piece(std::string_view text, std::size_t b, std::size_t e, std::size_t char_base, std::vector<token>& out) const {
    thread_local std::vector<symbol> sym;
    thread_local std::vector<std::uint32_t> rank;  // rank of the pair (sym[i], sym[i+1])
    thread_local std::vector<token_id> merged;
    sym.clear();
    for (std::size_t i = b; i < e; ++i) {
      const token_id id = byte_ids_[static_cast<unsigned char>(text[i])];
      if (id < 0) continue;  // a byte missing from the vocabulary is dropped (HF has no unk here either)
      sym.push_back(symbol{id, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1)});
    }
    constexpr std::uint32_t none = 0xFFFFFFFFu;
    auto pair_rank = [&](std::size_t i, token_id& m) -> std::uint32_t {
      auto it = merges_.find(key(sym[i].id, sym[i + 1].id));
      if (it == merges_.end()) return none;
      m = it->second.second;
      return it->second.first;
    };
    if (sym.size() > 1) {
      rank.resize(sym.size() - 1);
      merged.resize(sym.size() - 1);
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) rank[i] = pair_rank(i, merged[i]);
      while (sym.size() > 1) {
        std::size_t best = 0;
        for (std::size_t i = 1; i < rank.size(); ++i)
          if (rank[i] < rank[best]) best = i;
        if (rank[best] == none) break;
        sym[best].id = merged[best];
        sym[best].end = sym[best + 1].end;
        sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best) + 1);
        rank.erase(rank.begin() + static_cast<std::ptrdiff_t>(best));
        merged.erase(merged.begin() + static_cast<std::ptrdiff_t>(best));
        if (best + 1 < sym.size()) rank[best] = pair_rank(best, merged[best]);
        if (best > 0) rank[best - 1] = pair_rank(best - 1, merged[best - 1]);
      }
    }
    const auto& char_of = char_index();
    for (const auto& s : sym)
      out.push_back(token{s.id, offset{char_base + char_of[s.begin], char_base + char_of[s.end - 1] + 1}});
  }

  vocabulary vocab_;
  std::array<token_id, 256> byte_ids_{};
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, token_id>> merges_;  // (left, right) -> (rank, merged id)
  std::vector<std::pair<std::string, std::string>> merge_list_;
};

using byte_level_bpe_tokenizer = tokenizer<byte_level_bpe_model>;

// A GPT-2 style tokenizer from vocab.json + merges.txt; `special` names the
// added special tokens (default "<|endoftext|>" when the vocabulary has it).
namespace detail {
inline byte_level_bpe_tokenizer make_byte_level_bpe(vocabulary v, const std::vector<std::pair<std::string, std::string>>& merges,
                                                    const std::string& merges_source, const std::vector<std::string>& special) {
  std::vector<added_token> added;
  for (auto& s : special)
    if (auto id = v.find(s)) added.push_back(added_token{s, *id, true});
  return byte_level_bpe_tokenizer(byte_level_bpe_model(std::move(v), merges, merges_source), std::move(added), post_processor{});
}
}  // namespace detail

inline byte_level_bpe_tokenizer load_byte_level_bpe(const std::string& vocab_json, const std::string& merges_txt,
                                                    std::vector<std::string> special = {"<|endoftext|>"}) {
  return detail::make_byte_level_bpe(load_vocab_json(vocab_json), load_merges_txt(merges_txt), merges_txt, special);
}

// The same from the two files' text held in memory; the sources name them
// in errors.
inline byte_level_bpe_tokenizer byte_level_bpe_from_strings(std::string_view vocab_json_text, const std::string& vocab_source,
                                                            std::string_view merges_txt_text, const std::string& merges_source,
                                                            std::vector<std::string> special = {"<|endoftext|>"}) {
  return detail::make_byte_level_bpe(vocab_json_from_string(vocab_json_text, vocab_source),
                                     merges_txt_from_string(merges_txt_text, merges_source), merges_source, special);
}

}  // namespace autodidact::tokenizers
