#pragma once
// The result of encoding one text or a pair: ids with their segment (type)
// ids, masks and character offsets, plus the truncation and padding options
// that shape it. Mirrors Hugging Face tokenizers' Encoding.

#include <algorithm>  // for std::max, std::min, std::swap
#include <cstddef>    // for std::size_t
#include <cstdint>    // for std::int32_t, std::uint8_t
#include <optional>   // for std::optional
#include <type_traits>  // for std::decay_t
#include <string>     // for std::string
#include <vector>     // for std::vector

#include "autodidact/core/error.hpp"  // for autodidact::require, invalid_argument

namespace autodidact::tokenizers {

using token_id = std::int32_t;

// A half-open range [start, end) of Unicode characters (code points) of the
// input text the token came from; special and padding tokens have {0, 0}.
// (Hugging Face's Python API reports the same character offsets.)
struct offset {
  std::size_t start = 0;
  std::size_t end = 0;
  friend bool operator==(const offset&, const offset&) = default;
};

// One token as a model produces it, before post-processing.
struct token {
  token_id id;
  offset span;
};

struct encoding {
  std::vector<token_id> ids;                  // [T]
  std::vector<token_id> type_ids;             // [T] segment: 0 for the first text, 1 for the second
  std::vector<std::uint8_t> attention_mask;   // [T] 1 for real tokens, 0 for padding
  std::vector<std::uint8_t> special_tokens_mask;  // [T] 1 for [CLS]/[SEP]/padding/...
  std::vector<offset> offsets;                // [T] character offsets into its own text
  std::vector<std::uint8_t> sequence_ids;     // [T] 0 or 1 for text tokens, 255 for added special tokens

  std::size_t size() const noexcept { return ids.size(); }
  bool empty() const noexcept { return ids.empty(); }
};

enum class truncation_strategy { longest_first, only_first, only_second };
enum class padding_side { right, left };

struct truncation_options {
  std::size_t max_length = 512;  // including the special tokens added by post-processing
  truncation_strategy strategy = truncation_strategy::longest_first;
};

struct padding_options {
  std::optional<std::size_t> length;  // fixed length; nullopt pads a batch to its longest
  std::size_t multiple_of = 0;        // round the length up to a multiple of this (0: off)
  padding_side side = padding_side::right;
  token_id pad_id = 0;
  token_id pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

struct encode_options {
  bool add_special_tokens = true;
  std::optional<truncation_options> truncation;
  std::optional<padding_options> padding;
};

namespace detail {

inline void truncate_tokens(std::vector<token>& v, std::size_t n) {
  if (v.size() > n) v.resize(n);
}

// Hugging Face's truncate_encodings (stride 0): `budget` is max_length
// minus the special tokens the post-processor adds.
inline void truncate_pair(std::vector<token>& a, std::vector<token>* b, std::size_t budget,
                          truncation_strategy strategy) {
  const std::size_t total = a.size() + (b ? b->size() : 0);
  if (total <= budget) return;
  const std::size_t to_remove = total - budget;
  if (strategy == truncation_strategy::longest_first) {
    if (!b) {
      truncate_tokens(a, total - to_remove);
      return;
    }
    std::size_t n1 = a.size(), n2 = b->size();
    bool swap = false;
    if (n1 > n2) {
      swap = true;
      std::swap(n1, n2);
    }
    if (n1 > budget) n2 = n1;
    else n2 = std::max(n1, budget - n1);
    if (n1 + n2 > budget) {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
    if (swap) std::swap(n1, n2);
    truncate_tokens(a, n1);
    truncate_tokens(*b, n2);
    return;
  }
  std::vector<token>* target = &a;
  if (strategy == truncation_strategy::only_second) {
    require<invalid_argument>(b != nullptr, "truncation: strategy only_second needs a pair of texts, got one text");
    target = b;
  }
  require<invalid_argument>(target->size() > to_remove, "truncation: the sequence to truncate has ", target->size(),
                            " tokens, fewer than the ", to_remove, " that must go to fit max_length");
  truncate_tokens(*target, target->size() - to_remove);
}

}  // namespace detail

// Pads one encoding to `length` tokens.
inline void pad_encoding(encoding& e, std::size_t length, const padding_options& p) {
  if (e.size() >= length) return;
  const std::size_t n = length - e.size();
  auto pad = [&](auto& v, auto value) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    if (p.side == padding_side::right) v.insert(v.end(), n, static_cast<T>(value));
    else v.insert(v.begin(), n, static_cast<T>(value));
  };
  pad(e.ids, p.pad_id);
  pad(e.type_ids, p.pad_type_id);
  pad(e.attention_mask, 0);
  pad(e.special_tokens_mask, 1);
  pad(e.sequence_ids, 255);
  if (p.side == padding_side::right) e.offsets.insert(e.offsets.end(), n, offset{});
  else e.offsets.insert(e.offsets.begin(), n, offset{});
}

inline std::size_t padded_length(std::size_t longest, const padding_options& p) {
  std::size_t len = p.length.value_or(longest);
  if (p.multiple_of > 0 && len % p.multiple_of != 0) len += p.multiple_of - len % p.multiple_of;
  return len;
}

}  // namespace autodidact::tokenizers
