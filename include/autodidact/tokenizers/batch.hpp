#pragma once
// Batch encoding on range-v3 pipelines: `texts | views::encode(tok)` is a
// lazy view of encodings, and encode_batch() encodes a whole range and pads
// it to its longest member (or to the fixed length asked for).

#include <algorithm>    // for std::max
#include <cstddef>      // for std::size_t
#include <string_view>  // for std::string_view
#include <vector>       // for std::vector

#include <range/v3/range/conversion.hpp>  // for ranges::to
#include <range/v3/view/transform.hpp>    // for ranges::views::transform

#include "autodidact/tokenizers/encoding.hpp"   // for encoding, encode_options, pad_encoding
#include "autodidact/tokenizers/tokenizer.hpp"  // for tokenizer

namespace autodidact::tokenizers {

namespace views {
// A range-v3 view adaptor: each text (anything convertible to
// std::string_view) becomes its encoding. No batch padding (encode_batch
// does that); the tokenizer must outlive the view.
template <class Model>
auto encode(const tokenizer<Model>& tok, encode_options options) {
  options.padding.reset();
  return ranges::views::transform(
      [&tok, options](const auto& text) { return tok.encode(std::string_view(text), options); });
}
template <class Model>
auto encode(const tokenizer<Model>& tok) {
  return encode(tok, tok.default_options());
}
}  // namespace views

// Encodes every text of a range; with padding options, pads them all to the
// longest (or the fixed length), as Hugging Face's encode_batch does.
template <class Model, class Range>
std::vector<encoding> encode_batch(const tokenizer<Model>& tok, Range&& texts, const encode_options& options) {
  std::vector<encoding> out = texts | views::encode(tok, options) | ranges::to<std::vector>();
  if (options.padding) {
    std::size_t longest = 0;
    for (const auto& e : out) longest = std::max(longest, e.size());
    const std::size_t len = padded_length(longest, *options.padding);
    for (auto& e : out) pad_encoding(e, len, *options.padding);
  }
  return out;
}
template <class Model, class Range>
std::vector<encoding> encode_batch(const tokenizer<Model>& tok, Range&& texts) {
  return encode_batch(tok, static_cast<Range&&>(texts), tok.default_options());
}

}  // namespace autodidact::tokenizers
