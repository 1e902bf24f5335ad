#pragma once
// Shared by the tokenizer harnesses: encode a few texts with a tokenizer
// just loaded (or one built at start-up) and check what every encoding must
// satisfy.
#include <string_view>
#include <vector>

#include "autodidact/tokenizers/tokenizers.hpp"
#include "fuzz.hpp"

namespace autodidact::fuzz {

// The vectors of an encoding have one entry per token, and decoding its
// ids gives text (or a clean error for an id the vocabulary lacks).
template <class Tok>
void check_encoding(const Tok& t, const tokenizers::encoding& e) {
  const std::size_t n = e.ids.size();
  AUTODIDACT_FUZZ_CHECK(e.type_ids.size() == n && e.attention_mask.size() == n && e.special_tokens_mask.size() == n &&
                        e.offsets.size() == n && e.sequence_ids.size() == n);
  for (std::size_t i = 0; i < n; ++i) AUTODIDACT_FUZZ_CHECK(e.offsets[i].start <= e.offsets[i].end);
  for (bool skip : {true, false}) {
    try {
      (void)t.decode(e.ids, skip);
    } catch (const autodidact::error&) {
    }
  }
}

// Encodes `text` (and the pair text / text) under both UTF-8 policies.
template <class Tok>
void exercise(Tok& t, std::string_view text) {
  for (auto policy : {tokenizers::utf8_policy::strict, tokenizers::utf8_policy::replace}) {
    t.set_invalid_utf8(policy);
    try {
      check_encoding(t, t.encode(text));
      check_encoding(t, t.encode(text, text));
    } catch (const autodidact::error&) {
    }
  }
}

}  // namespace autodidact::fuzz
