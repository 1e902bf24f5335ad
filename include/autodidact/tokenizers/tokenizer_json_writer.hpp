#pragma once
// Writing a WordPiece tokenizer as a Hugging Face tokenizer.json: the
// BertNormalizer and BertPreTokenizer with the tokenizer's options, the
// WordPiece model with its vocabulary, the added tokens, the post-processor
// as TemplateProcessing, the WordPiece decoder, and the default truncation
// and padding (null when unset). load_wordpiece_tokenizer_json reads it back
// to the same tokenizer, and the Python tokenizers library
// (transformers.AutoTokenizer on an export_hf folder) encodes text to the
// same ids (tools/check_hf_export.py checks both on the pretraining demo).
//
//   tokenizers::save_tokenizer_json(tok, "run/hf/tokenizer.json");

#include <string>   // for std::string

#include <nlohmann/json.hpp>  // for nlohmann::ordered_json

#include "autodidact/io/json.hpp"               // for write_json_file
#include "autodidact/tokenizers/encoding.hpp"   // for encode_options, truncation_strategy, padding_side
#include "autodidact/tokenizers/tokenizer.hpp"  // for post_processor, template_piece
#include "autodidact/tokenizers/wordpiece.hpp"  // for wordpiece_tokenizer

namespace autodidact::tokenizers {

namespace detail {
inline nlohmann::ordered_json template_json(const std::vector<template_piece>& pieces, const vocabulary& v,
                                            nlohmann::ordered_json& special_tokens) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const template_piece& p : pieces) {
    nlohmann::ordered_json item;
    if (p.what == template_piece::kind::special) {
      const std::string name(v.token(p.id));
      item["SpecialToken"] = {{"id", name}, {"type_id", p.type_id}};
      special_tokens[name] = {{"id", name}, {"ids", {p.id}}, {"tokens", {name}}};
    } else {
      item["Sequence"] = {{"id", p.what == template_piece::kind::sequence_a ? "A" : "B"}, {"type_id", p.type_id}};
    }
    out.push_back(std::move(item));
  }
  return out;
}

inline nlohmann::ordered_json truncation_json(const encode_options& o) {
  if (!o.truncation) return nullptr;
  const auto s = o.truncation->strategy;
  return {{"direction", "Right"},
          {"max_length", o.truncation->max_length},
          {"strategy", s == truncation_strategy::longest_first ? "LongestFirst"
                       : s == truncation_strategy::only_first  ? "OnlyFirst"
                                                               : "OnlySecond"},
          {"stride", 0}};
}

inline nlohmann::ordered_json padding_json(const encode_options& o) {
  if (!o.padding) return nullptr;
  const padding_options& p = *o.padding;
  nlohmann::ordered_json strategy = "BatchLongest";
  if (p.length) strategy = {{"Fixed", *p.length}};
  nlohmann::ordered_json multiple = nullptr;
  if (p.multiple_of != 0) multiple = p.multiple_of;
  return {{"strategy", strategy},
          {"direction", p.side == padding_side::left ? "Left" : "Right"},
          {"pad_to_multiple_of", multiple},
          {"pad_id", p.pad_id},
          {"pad_type_id", p.pad_type_id},
          {"pad_token", p.pad_token}};
}
}  // namespace detail

// The tokenizer.json document of a WordPiece tokenizer (Hugging Face
// tokenizers' format, version 1.0).
inline nlohmann::ordered_json to_tokenizer_json(const wordpiece_tokenizer& t) {
  const vocabulary& v = t.vocab();
  const wordpiece_options& o = t.model().options();
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = detail::truncation_json(t.default_options());
  j["padding"] = detail::padding_json(t.default_options());
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (const added_token& a : t.added_tokens())
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", a.special}});
  j["added_tokens"] = std::move(added);
  nlohmann::ordered_json strip = nullptr;
  if (o.normalizer.strip_accents) strip = *o.normalizer.strip_accents;
  j["normalizer"] = {{"type", "BertNormalizer"},
                     {"clean_text", o.normalizer.clean_text},
                     {"handle_chinese_chars", o.normalizer.handle_chinese_chars},
                     {"strip_accents", strip},
                     {"lowercase", o.normalizer.lowercase}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
  nlohmann::ordered_json single = detail::template_json(t.post().single, v, special_tokens);
  nlohmann::ordered_json pair = detail::template_json(t.post().pair, v, special_tokens);
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", std::move(single)},
                         {"pair", std::move(pair)},
                         {"special_tokens", std::move(special_tokens)}};
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", o.continuing_subword_prefix}, {"cleanup", o.decoder_cleanup}};
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < v.id_bound(); ++i)
    if (v.has_id(static_cast<token_id>(i))) vocab[std::string(v.token(static_cast<token_id>(i)))] = i;
  j["model"] = {{"type", "WordPiece"},
                {"unk_token", o.unk_token},
                {"continuing_subword_prefix", o.continuing_subword_prefix},
                {"max_input_chars_per_word", o.max_input_chars_per_word},
                {"vocab", std::move(vocab)}};
  return j;
}

// Writes to_tokenizer_json(t) to `path`.
inline void save_tokenizer_json(const wordpiece_tokenizer& t, const std::string& path) {
  ::autodidact::detail::write_json_file(path, to_tokenizer_json(t));
}

}  // namespace autodidact::tokenizers
