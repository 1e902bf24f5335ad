#pragma once
// The pipeline shared by every tokenizer: special (added) tokens matched in
// the raw text, a model that turns the rest into tokens (wordpiece_model,
// byte_level_bpe_model), post-processing (a template such as
// "[CLS] $A [SEP] $B [SEP]"), truncation, padding and decoding, as in
// Hugging Face tokenizers.

#include <algorithm>    // for std::max
#include <cstddef>      // for std::size_t
#include <optional>     // for std::optional
#include <span>         // for std::span
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <utility>      // for std::move
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"             // for autodidact::require, invalid_argument
#include "autodidact/tokenizers/encoding.hpp"    // for encoding, encode_options, token
#include "autodidact/tokenizers/unicode.hpp"     // for utf8_policy, unicode::validate_utf8
#include "autodidact/tokenizers/vocabulary.hpp"  // for vocabulary

namespace autodidact::tokenizers {

// A token matched verbatim in the raw text before the model runs ([CLS],
// [MASK], <|endoftext|>, ...). `special` ones are dropped by decode().
struct added_token {
  std::string content;
  token_id id;
  bool special = true;
};

// One item of a post-processing template: a special token or a sequence.
struct template_piece {
  enum class kind { special, sequence_a, sequence_b } what;
  token_id id = 0;  // for kind::special
  token_id type_id = 0;
};

// What the post-processor adds around one text and around a pair.
struct post_processor {
  std::vector<template_piece> single{{template_piece::kind::sequence_a, 0, 0}};
  std::vector<template_piece> pair{{template_piece::kind::sequence_a, 0, 0}, {template_piece::kind::sequence_b, 0, 1}};

  std::size_t added(bool is_pair) const {
    std::size_t n = 0;
    for (const auto& p : is_pair ? pair : single) n += p.what == template_piece::kind::special;
    return n;
  }
  // BERT's "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1".
  static post_processor bert(token_id cls, token_id sep) {
    using k = template_piece::kind;
    post_processor p;
    p.single = {{k::special, cls, 0}, {k::sequence_a, 0, 0}, {k::special, sep, 0}};
    p.pair = {{k::special, cls, 0}, {k::sequence_a, 0, 0}, {k::special, sep, 0}, {k::sequence_b, 0, 1}, {k::special, sep, 1}};
    return p;
  }
};

// A tokenizer: Model is wordpiece_model or byte_level_bpe_model (see their
// headers for the aliases wordpiece_tokenizer, byte_level_bpe_tokenizer).
template <class Model>
class tokenizer {
 public:
  tokenizer() = default;
  tokenizer(Model model, std::vector<added_token> added, post_processor post, encode_options defaults = {})
      : model_(std::move(model)), added_(std::move(added)), post_(std::move(post)), defaults_(std::move(defaults)) {
    for (const auto& a : added_) {
      require<invalid_argument>(!a.content.empty(), "tokenizer: an added token must not be empty");
      require<invalid_argument>(a.id >= 0, "tokenizer: the added token '", a.content, "' has the negative id ", a.id);
      if (a.special) {
        if (static_cast<std::size_t>(a.id) >= special_ids_.size()) special_ids_.resize(static_cast<std::size_t>(a.id) + 1);
        special_ids_[static_cast<std::size_t>(a.id)] = 1;
      }
      first_bytes_[static_cast<unsigned char>(a.content[0])] = true;
    }
  }

  // Encodes one text with the tokenizer's default options (those of its
  // tokenizer.json, or none) or with `options`.
  encoding encode(std::string_view text) const { return encode(text, defaults_); }
  encoding encode(std::string_view text, const encode_options& options) const {
    return encode_impl(text, nullptr, options);
  }
  // Encodes a pair (sentence A, sentence B): type_ids are 0 for A and 1 for B.
  encoding encode(std::string_view a, std::string_view b) const { return encode(a, b, defaults_); }
  encoding encode(std::string_view a, std::string_view b, const encode_options& options) const {
    return encode_impl(a, &b, options);
  }

  // The model's tokens of one text without special tokens, as strings.
  std::vector<std::string> tokenize(std::string_view text) const {
    encode_options o;
    o.add_special_tokens = false;
    std::vector<std::string> out;
    for (token_id id : encode(text, o).ids) out.push_back(vocab().token(id));
    return out;
  }

  // Ids back to text (the model's decoder); special tokens are skipped
  // unless asked. Unknown ids raise invalid_argument.
  std::string decode(std::span<const token_id> ids, bool skip_special_tokens = true) const {
    std::vector<std::string_view> toks;
    toks.reserve(ids.size());
    for (token_id id : ids) {
      if (skip_special_tokens && is_special(id)) continue;
      toks.push_back(vocab().token(id));
    }
    return model_.decode(toks);
  }

  bool is_special(token_id id) const noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < special_ids_.size() && special_ids_[static_cast<std::size_t>(id)];
  }

  const Model& model() const noexcept { return model_; }
  const vocabulary& vocab() const noexcept { return model_.vocab(); }
  const std::vector<added_token>& added_tokens() const noexcept { return added_; }
  const post_processor& post() const noexcept { return post_; }
  const encode_options& default_options() const noexcept { return defaults_; }
  void set_default_options(encode_options o) { defaults_ = std::move(o); }
  utf8_policy invalid_utf8() const noexcept { return utf8_; }
  void set_invalid_utf8(utf8_policy p) noexcept { utf8_ = p; }

  // The tokens of one text before post-processing (no truncation).
  void encode_tokens(std::string_view text, std::vector<token>& out) const {
    std::string replaced;
    if (utf8_ == utf8_policy::strict) {
      unicode::validate_utf8(text);
    } else {
      replaced = unicode::replace_invalid_utf8(text);
      text = replaced;
    }
    // split on added tokens (leftmost, then longest), counting characters
    std::size_t seg_begin = 0, seg_chars = 0, chars = 0, pos = 0;
    auto flush = [&](std::size_t end) {
      if (end > seg_begin) model_.encode_segment(text.substr(seg_begin, end - seg_begin), seg_chars, out);
    };
    while (pos < text.size()) {
      const unsigned char b = static_cast<unsigned char>(text[pos]);
      if (first_bytes_[b]) {
        const added_token* best = nullptr;
        for (const auto& a : added_)
          if (text.compare(pos, a.content.size(), a.content) == 0 && (!best || a.content.size() > best->content.size()))
            best = &a;
        if (best) {
          flush(pos);
          std::size_t n = 0;
          for (std::size_t k = 0; k < best->content.size(); ++k) n += (static_cast<unsigned char>(best->content[k]) & 0xC0) != 0x80;
          out.push_back(token{best->id, offset{chars, chars + n}});
          chars += n;
          pos += best->content.size();
          seg_begin = pos;
          seg_chars = chars;
          continue;
        }
      }
      chars += (b & 0xC0) != 0x80;
      ++pos;
    }
    flush(text.size());
  }

 private:
  encoding encode_impl(std::string_view a, const std::string_view* b, const encode_options& options) const {
    std::vector<token> ta, tb;
    encode_tokens(a, ta);
    if (b) encode_tokens(*b, tb);
    if (options.truncation) {
      const std::size_t added = options.add_special_tokens ? post_.added(b != nullptr) : 0;
      require<invalid_argument>(options.truncation->max_length >= added, "truncation: max_length ",
                                options.truncation->max_length, " is smaller than the ", added,
                                " special tokens the template adds");
      detail::truncate_pair(ta, b ? &tb : nullptr, options.truncation->max_length - added, options.truncation->strategy);
    }
    encoding e;
    auto push = [&](token_id id, token_id type, offset off, bool special, std::uint8_t seq) {
      e.ids.push_back(id);
      e.type_ids.push_back(type);
      e.attention_mask.push_back(1);
      e.special_tokens_mask.push_back(special ? 1 : 0);
      e.offsets.push_back(off);
      e.sequence_ids.push_back(seq);
    };
    const std::size_t reserve = ta.size() + tb.size() + 4;
    e.ids.reserve(reserve);
    e.type_ids.reserve(reserve);
    e.attention_mask.reserve(reserve);
    e.special_tokens_mask.reserve(reserve);
    e.offsets.reserve(reserve);
    e.sequence_ids.reserve(reserve);
    if (!options.add_special_tokens) {
      for (const auto& t : ta) push(t.id, 0, t.span, false, 0);
      for (const auto& t : tb) push(t.id, 1, t.span, false, 1);
    } else {
      for (const auto& p : b ? post_.pair : post_.single) {
        if (p.what == template_piece::kind::special) push(p.id, p.type_id, offset{}, true, 255);
        else if (p.what == template_piece::kind::sequence_a)
          for (const auto& t : ta) push(t.id, p.type_id, t.span, false, 0);
        else
          for (const auto& t : tb) push(t.id, p.type_id, t.span, false, 1);
      }
    }
    if (options.padding && options.padding->length) {
      pad_encoding(e, padded_length(e.size(), *options.padding), *options.padding);
    } else if (options.padding && options.padding->multiple_of > 0) {
      pad_encoding(e, padded_length(e.size(), *options.padding), *options.padding);
    }
    return e;
  }

  Model model_;
  std::vector<added_token> added_;
  post_processor post_;
  encode_options defaults_;
  utf8_policy utf8_ = utf8_policy::strict;
  std::vector<std::uint8_t> special_ids_;
  bool first_bytes_[256] = {};
};

}  // namespace autodidact::tokenizers
