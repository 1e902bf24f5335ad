#pragma once
// Loading a Hugging Face tokenizer.json: a WordPiece model with the BERT
// normalizer and pre-tokenizer, or a BPE model with the ByteLevel
// pre-tokenizer; added tokens, the post-processor (TemplateProcessing,
// BertProcessing, ByteLevel), and the truncation and padding it enables
// (they become the tokenizer's default encode_options). Anything else
// raises format_error naming the file, the field, what is supported and
// what was found.

#include <string>   // for std::string
#include <utility>  // for std::move
#include <variant>  // for std::variant
#include <vector>   // for std::vector

#include <nlohmann/json.hpp>  // for nlohmann::json

#include "autodidact/core/error.hpp"                 // for autodidact::raise, require, format_error
#include "autodidact/tokenizers/byte_level_bpe.hpp"  // for byte_level_bpe_tokenizer
#include "autodidact/tokenizers/tokenizer.hpp"       // for added_token, post_processor
#include "autodidact/tokenizers/vocabulary.hpp"      // for vocabulary_from_json, detail::read_file
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_tokenizer

namespace autodidact::tokenizers {

namespace detail {
inline nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    raise<format_error>(path, ": malformed JSON at byte offset ", e.byte, ": ", e.what());
  }
}

inline const nlohmann::json& field(const nlohmann::json& j, const char* name, const std::string& where) {
  require<format_error>(j.is_object() && j.contains(name), where, ": the field \"", name, "\" is missing");
  return j.at(name);
}

inline std::string type_of(const nlohmann::json& j) { return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : std::string(j.is_null() ? "null" : j.dump()); }

struct json_common {
  std::vector<added_token> added;
  encode_options defaults;
  nlohmann::json post;
};

inline json_common read_common(const nlohmann::json& j, const std::string& path) {
  json_common c;
  c.defaults.add_special_tokens = true;
  if (j.contains("added_tokens")) {
    for (const auto& t : j["added_tokens"]) {
      const std::string where = path + ": added_tokens";
      c.added.push_back(added_token{field(t, "content", where).get<std::string>(), field(t, "id", where).get<token_id>(),
                                    t.value("special", false)});
    }
  }
  if (j.contains("truncation") && !j["truncation"].is_null()) {
    const auto& t = j["truncation"];
    truncation_options o;
    o.max_length = t.value("max_length", std::size_t{512});
    const std::string s = t.value("strategy", std::string("LongestFirst"));
    if (s == "LongestFirst") o.strategy = truncation_strategy::longest_first;
    else if (s == "OnlyFirst") o.strategy = truncation_strategy::only_first;
    else if (s == "OnlySecond") o.strategy = truncation_strategy::only_second;
    else raise<format_error>(path, ": truncation.strategy: expected LongestFirst, OnlyFirst or OnlySecond, got ", s);
    require<format_error>(t.value("stride", 0) == 0, path, ": truncation.stride: only 0 is supported, got ", t["stride"].dump());
    c.defaults.truncation = o;
  }
  if (j.contains("padding") && !j["padding"].is_null()) {
    const auto& p = j["padding"];
    padding_options o;
    const auto& st = field(p, "strategy", path + ": padding");
    if (st.is_object() && st.contains("Fixed")) o.length = st["Fixed"].get<std::size_t>();
    else if (!(st.is_string() && st.get<std::string>() == "BatchLongest"))
      raise<format_error>(path, ": padding.strategy: expected BatchLongest or {\"Fixed\": n}, got ", st.dump());
    o.side = p.value("direction", std::string("Right")) == "Left" ? padding_side::left : padding_side::right;
    if (p.contains("pad_to_multiple_of") && !p["pad_to_multiple_of"].is_null()) o.multiple_of = p["pad_to_multiple_of"].get<std::size_t>();
    o.pad_id = p.value("pad_id", 0);
    o.pad_type_id = p.value("pad_type_id", 0);
    o.pad_token = p.value("pad_token", std::string("[PAD]"));
    c.defaults.padding = o;
  }
  c.post = j.contains("post_processor") ? j["post_processor"] : nlohmann::json();
  return c;
}

inline post_processor read_post_processor(const nlohmann::json& p, const vocabulary& v, const std::string& path) {
  const std::string type = type_of(p);
  if (p.is_null() || type == "ByteLevel") {
    require<format_error>(p.is_null() || !p.value("trim_offsets", false), path,
                          ": post_processor ByteLevel: only trim_offsets = false is supported, got true");
    return post_processor{};
  }
  auto id_of = [&](const nlohmann::json& pair, const char* what) {
    require<format_error>(pair.is_array() && pair.size() == 2, path, ": post_processor.", what, ": expected [token, id]");
    return pair[1].get<token_id>();
  };
  if (type == "BertProcessing") return post_processor::bert(id_of(p["cls"], "cls"), id_of(p["sep"], "sep"));
  if (type == "TemplateProcessing") {
    auto read = [&](const nlohmann::json& items, const char* which) {
      std::vector<template_piece> out;
      for (const auto& it : items) {
        if (it.contains("SpecialToken")) {
          const auto& s = it["SpecialToken"];
          const std::string name = s.at("id").get<std::string>();
          const auto& st = field(p, "special_tokens", path + ": post_processor");
          require<format_error>(st.contains(name), path, ": post_processor.", which, ": special token ", name,
                                " is not in special_tokens");
          const auto& ids = st[name].at("ids");
          require<format_error>(ids.size() == 1, path, ": post_processor: special token ", name, " must have one id, has ",
                                ids.size());
          out.push_back({template_piece::kind::special, ids[0].get<token_id>(), s.value("type_id", 0)});
        } else if (it.contains("Sequence")) {
          const auto& s = it["Sequence"];
          const std::string id = s.at("id").get<std::string>();
          out.push_back({id == "A" ? template_piece::kind::sequence_a : template_piece::kind::sequence_b, 0, s.value("type_id", 0)});
        } else {
          raise<format_error>(path, ": post_processor.", which, ": expected SpecialToken or Sequence items, got ", it.dump());
        }
      }
      return out;
    };
    post_processor pp;
    pp.single = read(field(p, "single", path + ": post_processor"), "single");
    pp.pair = read(field(p, "pair", path + ": post_processor"), "pair");
    (void)v;
    return pp;
  }
  raise<format_error>(path, ": post_processor: expected TemplateProcessing, BertProcessing, ByteLevel or null, got ", type);
}
}  // namespace detail

// A WordPiece tokenizer.json (BERT, MiniLM, ...).
inline wordpiece_tokenizer load_wordpiece_tokenizer_json(const std::string& path) {
  const nlohmann::json j = detail::parse_json_file(path);
  const auto& model = detail::field(j, "model", path);
  require<format_error>(detail::type_of(model) == "WordPiece", path, ": model.type: expected WordPiece, got ",
                        detail::type_of(model));
  wordpiece_options o;
  o.unk_token = model.value("unk_token", std::string("[UNK]"));
  o.continuing_subword_prefix = model.value("continuing_subword_prefix", std::string("##"));
  o.max_input_chars_per_word = model.value("max_input_chars_per_word", std::size_t{100});
  const auto& norm = j.contains("normalizer") ? j["normalizer"] : nlohmann::json();
  require<format_error>(detail::type_of(norm) == "BertNormalizer", path, ": normalizer.type: expected BertNormalizer, got ",
                        detail::type_of(norm));
  o.normalizer.clean_text = norm.value("clean_text", true);
  o.normalizer.handle_chinese_chars = norm.value("handle_chinese_chars", true);
  o.normalizer.lowercase = norm.value("lowercase", true);
  if (norm.contains("strip_accents") && !norm["strip_accents"].is_null()) o.normalizer.strip_accents = norm["strip_accents"].get<bool>();
  const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
  require<format_error>(detail::type_of(pre) == "BertPreTokenizer", path,
                        ": pre_tokenizer.type: expected BertPreTokenizer, got ", detail::type_of(pre));
  if (j.contains("decoder") && !j["decoder"].is_null()) {
    require<format_error>(detail::type_of(j["decoder"]) == "WordPiece", path, ": decoder.type: expected WordPiece, got ",
                          detail::type_of(j["decoder"]));
    o.decoder_cleanup = j["decoder"].value("cleanup", true);
  }
  vocabulary v = vocabulary_from_json(detail::field(model, "vocab", path + ": model"), path + ": model.vocab");
  auto common = detail::read_common(j, path);
  post_processor post = detail::read_post_processor(common.post, v, path);
  for (const auto& a : common.added)
    require<format_error>(v.has_id(a.id) && v.token(a.id) == a.content, path, ": added token '", a.content, "' has id ", a.id,
                          " which the vocabulary gives to another token");
  return wordpiece_tokenizer(wordpiece_model(std::move(v), std::move(o)), std::move(common.added), std::move(post),
                             std::move(common.defaults));
}

// A byte-level BPE tokenizer.json (GPT-2 style).
inline byte_level_bpe_tokenizer load_byte_level_bpe_tokenizer_json(const std::string& path) {
  const nlohmann::json j = detail::parse_json_file(path);
  const auto& model = detail::field(j, "model", path);
  require<format_error>(detail::type_of(model) == "BPE", path, ": model.type: expected BPE, got ", detail::type_of(model));
  const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
  require<format_error>(detail::type_of(pre) == "ByteLevel", path, ": pre_tokenizer.type: expected ByteLevel, got ",
                        detail::type_of(pre));
  require<format_error>(!pre.value("add_prefix_space", false), path,
                        ": pre_tokenizer.add_prefix_space: only false is supported, got true");
  require<format_error>(pre.value("use_regex", true), path, ": pre_tokenizer.use_regex: only true is supported, got false");
  require<format_error>(!j.contains("normalizer") || j["normalizer"].is_null(), path,
                        ": normalizer: expected null for a byte-level BPE, got ", detail::type_of(j["normalizer"]));
  for (const char* unsupported : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    require<format_error>(!model.contains(unsupported) || model[unsupported].is_null() ||
                              model[unsupported].get<std::string>().empty(),
                          path, ": model.", unsupported, ": expected null for a byte-level BPE, got ", model[unsupported].dump());
  }
  vocabulary v = vocabulary_from_json(detail::field(model, "vocab", path + ": model"), path + ": model.vocab");
  std::vector<std::pair<std::string, std::string>> merges;
  const auto& m = detail::field(model, "merges", path + ": model");
  require<format_error>(m.is_array(), path, ": model.merges: expected an array, got ", m.type_name());
  for (std::size_t i = 0; i < m.size(); ++i) {
    const auto& x = m[i];
    if (x.is_string()) {  // "a b"
      const std::string s = x.get<std::string>();
      const auto sp = s.find(' ');
      require<format_error>(sp != std::string::npos && sp > 0 && s.find(' ', sp + 1) == std::string::npos, path,
                            ": model.merges[", i, "]: expected two tokens separated by one space, got '", s, "'");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {  // ["a", "b"]
      require<format_error>(x.is_array() && x.size() == 2 && x[0].is_string() && x[1].is_string(), path, ": model.merges[",
                            i, "]: expected \"a b\" or [\"a\", \"b\"], got ", x.dump());
      merges.emplace_back(x[0].get<std::string>(), x[1].get<std::string>());
    }
  }
  auto common = detail::read_common(j, path);
  post_processor post = detail::read_post_processor(common.post, v, path);
  return byte_level_bpe_tokenizer(byte_level_bpe_model(std::move(v), merges, path + ": model.merges"), std::move(common.added),
                                  std::move(post), std::move(common.defaults));
}

using any_tokenizer = std::variant<wordpiece_tokenizer, byte_level_bpe_tokenizer>;

// Either kind, chosen by model.type.
inline any_tokenizer load_tokenizer_json(const std::string& path) {
  const nlohmann::json j = detail::parse_json_file(path);
  const std::string type = detail::type_of(detail::field(j, "model", path));
  if (type == "WordPiece") return load_wordpiece_tokenizer_json(path);
  if (type == "BPE") return load_byte_level_bpe_tokenizer_json(path);
  raise<format_error>(path, ": model.type: expected WordPiece or BPE, got ", type);
}

}  // namespace autodidact::tokenizers
