#pragma once
// Loading a Hugging Face tokenizer.json: a WordPiece model with the BERT
// normalizer and pre-tokenizer, or a BPE model with the ByteLevel
// pre-tokenizer; added tokens, the post-processor (TemplateProcessing,
// BertProcessing, ByteLevel), and the truncation and padding it enables
// (they become the tokenizer's default encode_options). Anything else
// raises format_error naming the file, the field, what is supported and
// what was found: a field of the wrong JSON type, an added token or a
// post-processor special token whose id the vocabulary gives to another
// token (or to none: the post-processor would emit an id the model has no
// row for), a padding pad_id that is not pad_token's.
//
// Each loader has a twin that parses text held in memory
// (*_from_string(text, source); `source` names it in errors).

#include <cstdint>      // for std::int64_t
#include <string>   // for std::string
#include <string_view>  // for std::string_view
#include <utility>  // for std::move
#include <variant>  // for std::variant
#include <vector>   // for std::vector

#include "autodidact/io/json.hpp"  // for parse_json, dump_json, nlohmann::json

#include "autodidact/core/error.hpp"                 // for autodidact::raise, require, format_error
#include "autodidact/tokenizers/byte_level_bpe.hpp"  // for byte_level_bpe_tokenizer
#include "autodidact/tokenizers/tokenizer.hpp"       // for added_token, post_processor
#include "autodidact/tokenizers/vocabulary.hpp"      // for vocabulary_from_json, detail::read_file
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_tokenizer

namespace autodidact::tokenizers {

namespace detail {
using json_duplicates = std::vector<::autodidact::detail::json_duplicate_key>;
// Parses a tokenizer.json; its repeated keys go to *duplicates when given.
inline nlohmann::json parse_json_text(std::string_view text, const std::string& path,
                                      json_duplicates* duplicates = nullptr) {
  // A syntax error, or out_of_range 406: a number too large for a double.
  auto parsed = ::autodidact::detail::try_parse_json(text);
  if (!parsed.ok) raise<format_error>(path, ": malformed JSON at byte offset ", parsed.byte, ": ", parsed.message);
  if (duplicates) *duplicates = std::move(parsed.duplicates);
  return std::move(parsed.value);
}
inline nlohmann::json parse_json_file(const std::string& path, json_duplicates* duplicates = nullptr) {
  return parse_json_text(read_file(path), path, duplicates);
}

inline const nlohmann::json& field(const nlohmann::json& j, const char* name, const std::string& where) {
  require<format_error>(j.is_object() && j.contains(name), where, ": the field \"", name, "\" is missing");
  return j.at(name);
}

inline std::string type_of(const nlohmann::json& j) { return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : std::string(j.is_null() ? "null" : ::autodidact::detail::dump_json(j)); }

// Typed reads: format_error naming `where` (file: field) on a wrong JSON type
// or a value out of range.
inline std::string as_string(const nlohmann::json& v, const std::string& where) {
  require<format_error>(v.is_string(), where, ": expected a string, got ", ::autodidact::detail::dump_json(v));
  return v.get<std::string>();
}
inline bool as_bool(const nlohmann::json& v, const std::string& where) {
  require<format_error>(v.is_boolean(), where, ": expected true or false, got ", ::autodidact::detail::dump_json(v));
  return v.get<bool>();
}
inline std::int64_t as_int(const nlohmann::json& v, const std::string& where, std::int64_t lo, std::int64_t hi) {
  const bool integer = v.is_number_integer() && (!v.is_number_unsigned() || v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi));
  require<format_error>(integer && v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi, where,
                        ": expected an integer in [", lo, ", ", hi, "], got ", ::autodidact::detail::dump_json(v));
  return v.get<std::int64_t>();
}
inline token_id as_id(const nlohmann::json& v, const std::string& where) {
  return static_cast<token_id>(as_int(v, where, 0, (std::int64_t{1} << 30) - 1));
}
// A length that sizes the encodings (padding): at most 2^20.
inline std::size_t as_length(const nlohmann::json& v, const std::string& where) {
  return static_cast<std::size_t>(as_int(v, where, 0, std::int64_t{1} << 20));
}
// obj[name] if present and not null.
inline const nlohmann::json* optional_field(const nlohmann::json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}
inline std::string opt_string(const nlohmann::json& obj, const char* name, std::string fallback, const std::string& where) {
  const nlohmann::json* v = optional_field(obj, name);
  return v ? as_string(*v, where + "." + name) : fallback;
}
inline bool opt_bool(const nlohmann::json& obj, const char* name, bool fallback, const std::string& where) {
  const nlohmann::json* v = optional_field(obj, name);
  return v ? as_bool(*v, where + "." + name) : fallback;
}
inline void require_object(const nlohmann::json& v, const std::string& where) {
  require<format_error>(v.is_object(), where, ": expected a JSON object, got ", ::autodidact::detail::dump_json(v));
}

// `what` (a special token the tokenizer emits) must be `content` at `id` in
// the vocabulary.
inline void check_special_id(const vocabulary& v, const std::string& content, token_id id, const std::string& path,
                             const std::string& what) {
  if (!v.has_id(id)) {
    raise<format_error>(path, ": ", what, ": the special token ", content, " has id ", id,
                        " but the vocabulary (model.vocab, ", v.size(), " tokens) has no token with that id",
                        v.contains(content) ? " (it has " + content + " at id " + std::to_string(*v.find(content)) + ")"
                                            : " and no token " + content);
  }
  require<format_error>(v.token(id) == content, path, ": ", what, ": the special token ", content, " has id ", id,
                        " but the vocabulary gives that id to '", v.token(id), "'");
}

struct json_common {
  std::vector<added_token> added;
  encode_options defaults;
  nlohmann::json post;
};

inline json_common read_common(const nlohmann::json& j, const std::string& path) {
  json_common c;
  c.defaults.add_special_tokens = true;
  if (const nlohmann::json* added = optional_field(j, "added_tokens")) {
    require<format_error>(added->is_array(), path, ": added_tokens: expected an array, got ", ::autodidact::detail::dump_json(*added));
    for (std::size_t i = 0; i < added->size(); ++i) {
      const nlohmann::json& t = (*added)[i];
      const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
      require_object(t, where);
      std::string content = as_string(field(t, "content", where), where + ".content");
      require<format_error>(!content.empty(), where, ".content: an added token must not be empty");
      c.added.push_back(added_token{std::move(content), as_id(field(t, "id", where), where + ".id"),
                                    opt_bool(t, "special", false, where)});
    }
  }
  if (const nlohmann::json* t = optional_field(j, "truncation")) {
    const std::string where = path + ": truncation";
    require_object(*t, where);
    truncation_options o;
    if (const nlohmann::json* m = optional_field(*t, "max_length"))
      o.max_length = static_cast<std::size_t>(as_int(*m, where + ".max_length", 0, std::int64_t{1} << 40));
    const std::string s = opt_string(*t, "strategy", "LongestFirst", where);
    if (s == "LongestFirst") o.strategy = truncation_strategy::longest_first;
    else if (s == "OnlyFirst") o.strategy = truncation_strategy::only_first;
    else if (s == "OnlySecond") o.strategy = truncation_strategy::only_second;
    else raise<format_error>(path, ": truncation.strategy: expected LongestFirst, OnlyFirst or OnlySecond, got ", s);
    if (const nlohmann::json* stride = optional_field(*t, "stride"))
      require<format_error>(stride->is_number_integer() && stride->get<std::int64_t>() == 0, path,
                            ": truncation.stride: only 0 is supported, got ", ::autodidact::detail::dump_json(*stride));
    c.defaults.truncation = o;
  }
  if (const nlohmann::json* p = optional_field(j, "padding")) {
    const std::string where = path + ": padding";
    require_object(*p, where);
    padding_options o;
    const auto& st = field(*p, "strategy", where);
    if (st.is_object() && st.contains("Fixed")) o.length = as_length(st["Fixed"], where + ".strategy.Fixed");
    else if (!(st.is_string() && st.get<std::string>() == "BatchLongest"))
      raise<format_error>(path, ": padding.strategy: expected BatchLongest or {\"Fixed\": n}, got ", ::autodidact::detail::dump_json(st));
    const std::string direction = opt_string(*p, "direction", "Right", where);
    require<format_error>(direction == "Right" || direction == "Left", path,
                          ": padding.direction: expected Right or Left, got ", direction);
    o.side = direction == "Left" ? padding_side::left : padding_side::right;
    if (const nlohmann::json* m = optional_field(*p, "pad_to_multiple_of"))
      o.multiple_of = as_length(*m, where + ".pad_to_multiple_of");
    if (const nlohmann::json* id = optional_field(*p, "pad_id")) o.pad_id = as_id(*id, where + ".pad_id");
    if (const nlohmann::json* id = optional_field(*p, "pad_type_id"))
      o.pad_type_id = static_cast<token_id>(as_int(*id, where + ".pad_type_id", 0, 1 << 30));
    o.pad_token = opt_string(*p, "pad_token", "[PAD]", where);
    c.defaults.padding = o;
  }
  c.post = j.contains("post_processor") ? j["post_processor"] : nlohmann::json();
  return c;
}

// The padding's pad_id must be pad_token's id.
inline void check_common(const json_common& c, const vocabulary& v, const std::string& path) {
  if (c.defaults.padding) check_special_id(v, c.defaults.padding->pad_token, c.defaults.padding->pad_id, path, "padding.pad_id");
}

inline post_processor read_post_processor(const nlohmann::json& p, const vocabulary& v, const std::string& path) {
  const std::string type = type_of(p);
  if (p.is_null() || type == "ByteLevel") {
    require<format_error>(p.is_null() || !opt_bool(p, "trim_offsets", false, path + ": post_processor"), path,
                          ": post_processor ByteLevel: only trim_offsets = false is supported, got true");
    return post_processor{};
  }
  const std::string where = path + ": post_processor";
  auto id_of = [&](const char* what) {
    const nlohmann::json& pair = field(p, what, where);
    require<format_error>(pair.is_array() && pair.size() == 2, where, ".", what, ": expected [token, id], got ", ::autodidact::detail::dump_json(pair));
    const std::string content = as_string(pair[0], where + "." + what + "[0]");
    const token_id id = as_id(pair[1], where + "." + what + "[1]");
    check_special_id(v, content, id, path, "post_processor." + std::string(what));
    return id;
  };
  if (type == "BertProcessing") {
    const token_id sep = id_of("sep");  // (HF's field order: sep, cls)
    return post_processor::bert(id_of("cls"), sep);
  }
  if (type == "TemplateProcessing") {
    const auto& st = field(p, "special_tokens", where);
    require_object(st, where + ".special_tokens");
    auto read = [&](const nlohmann::json& items, const char* which) {
      const std::string at = where + "." + which;
      require<format_error>(items.is_array(), at, ": expected an array, got ", ::autodidact::detail::dump_json(items));
      std::vector<template_piece> out;
      for (const auto& it : items) {
        if (it.is_object() && it.contains("SpecialToken")) {
          const auto& s = it["SpecialToken"];
          require_object(s, at + ": SpecialToken");
          const std::string name = as_string(field(s, "id", at + ": SpecialToken"), at + ": SpecialToken.id");
          require<format_error>(st.contains(name), at, ": special token ", name, " is not in special_tokens");
          const std::string entry = where + ".special_tokens[" + name + "]";
          require_object(st[name], entry);
          const auto& ids = field(st[name], "ids", entry);
          require<format_error>(ids.is_array() && ids.size() == 1, entry, ".ids: special token ", name,
                                " must have one id, got ", ::autodidact::detail::dump_json(ids));
          const token_id id = as_id(ids[0], entry + ".ids[0]");
          std::string content = name;
          if (const nlohmann::json* tokens = optional_field(st[name], "tokens")) {
            require<format_error>(tokens->is_array() && tokens->size() == 1, entry, ".tokens: expected one token, got ",
                                  ::autodidact::detail::dump_json(*tokens));
            content = as_string((*tokens)[0], entry + ".tokens[0]");
          }
          check_special_id(v, content, id, path, std::string("post_processor.") + which);
          token_id type_id = 0;
          if (const nlohmann::json* t = optional_field(s, "type_id"))
            type_id = static_cast<token_id>(as_int(*t, at + ": SpecialToken.type_id", 0, 1 << 30));
          out.push_back({template_piece::kind::special, id, type_id});
        } else if (it.is_object() && it.contains("Sequence")) {
          const auto& s = it["Sequence"];
          require_object(s, at + ": Sequence");
          const std::string id = as_string(field(s, "id", at + ": Sequence"), at + ": Sequence.id");
          require<format_error>(id == "A" || id == "B", at, ": Sequence.id: expected A or B, got ", id);
          token_id type_id = 0;
          if (const nlohmann::json* t = optional_field(s, "type_id"))
            type_id = static_cast<token_id>(as_int(*t, at + ": Sequence.type_id", 0, 1 << 30));
          out.push_back({id == "A" ? template_piece::kind::sequence_a : template_piece::kind::sequence_b, 0, type_id});
        } else {
          raise<format_error>(at, ": expected SpecialToken or Sequence items, got ", ::autodidact::detail::dump_json(it));
        }
      }
      return out;
    };
    post_processor pp;
    pp.single = read(field(p, "single", where), "single");
    pp.pair = read(field(p, "pair", where), "pair");
    return pp;
  }
  raise<format_error>(path, ": post_processor: expected TemplateProcessing, BertProcessing, ByteLevel or null, got ", type);
}

// Every added token must be the vocabulary's token at its id.
inline void check_added(const std::vector<added_token>& added, const vocabulary& v, const std::string& path) {
  for (const auto& a : added)
    require<format_error>(v.has_id(a.id) && v.token(a.id) == a.content, path, ": added token '", a.content, "' has id ", a.id,
                          v.has_id(a.id) ? " which the vocabulary gives to another token"
                                         : " which names no token of the vocabulary");
}

inline wordpiece_tokenizer wordpiece_from_json(const nlohmann::json& j, const std::string& path,
                                               const json_duplicates& duplicates = {}) {
  const auto& model = field(j, "model", path);
  require<format_error>(type_of(model) == "WordPiece", path, ": model.type: expected WordPiece, got ", type_of(model));
  const std::string mw = path + ": model";
  wordpiece_options o;
  o.unk_token = opt_string(model, "unk_token", "[UNK]", mw);
  o.continuing_subword_prefix = opt_string(model, "continuing_subword_prefix", "##", mw);
  if (const nlohmann::json* m = optional_field(model, "max_input_chars_per_word"))
    o.max_input_chars_per_word = static_cast<std::size_t>(as_int(*m, mw + ".max_input_chars_per_word", 0, std::int64_t{1} << 40));
  const auto& norm = j.contains("normalizer") ? j["normalizer"] : nlohmann::json();
  require<format_error>(type_of(norm) == "BertNormalizer", path, ": normalizer.type: expected BertNormalizer, got ",
                        type_of(norm));
  const std::string nw = path + ": normalizer";
  o.normalizer.clean_text = opt_bool(norm, "clean_text", true, nw);
  o.normalizer.handle_chinese_chars = opt_bool(norm, "handle_chinese_chars", true, nw);
  o.normalizer.lowercase = opt_bool(norm, "lowercase", true, nw);
  if (const nlohmann::json* sa = optional_field(norm, "strip_accents")) o.normalizer.strip_accents = as_bool(*sa, nw + ".strip_accents");
  const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
  require<format_error>(type_of(pre) == "BertPreTokenizer", path, ": pre_tokenizer.type: expected BertPreTokenizer, got ",
                        type_of(pre));
  if (j.contains("decoder") && !j["decoder"].is_null()) {
    require<format_error>(type_of(j["decoder"]) == "WordPiece", path, ": decoder.type: expected WordPiece, got ",
                          type_of(j["decoder"]));
    o.decoder_cleanup = opt_bool(j["decoder"], "cleanup", true, path + ": decoder");
  }
  vocabulary v = vocabulary_from_json(field(model, "vocab", mw), path + ": model.vocab");
  add_json_duplicates(v, duplicates, "/model/vocab");  // a repeated token keeps its last id, reported
  auto common = read_common(j, path);
  post_processor post = read_post_processor(common.post, v, path);
  check_added(common.added, v, path);
  check_common(common, v, path);
  require<format_error>(v.contains(o.unk_token), path, ": model.unk_token: the unknown token ", o.unk_token,
                        " is missing from the vocabulary (model.vocab, ", v.size(), " tokens)");
  return wordpiece_tokenizer(wordpiece_model(std::move(v), std::move(o)), std::move(common.added), std::move(post),
                             std::move(common.defaults));
}

inline byte_level_bpe_tokenizer byte_level_bpe_from_json(const nlohmann::json& j, const std::string& path,
                                                         const json_duplicates& duplicates = {}) {
  const auto& model = field(j, "model", path);
  require<format_error>(type_of(model) == "BPE", path, ": model.type: expected BPE, got ", type_of(model));
  const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
  require<format_error>(type_of(pre) == "ByteLevel", path, ": pre_tokenizer.type: expected ByteLevel, got ", type_of(pre));
  const std::string pw = path + ": pre_tokenizer";
  require<format_error>(!opt_bool(pre, "add_prefix_space", false, pw), path,
                        ": pre_tokenizer.add_prefix_space: only false is supported, got true");
  require<format_error>(opt_bool(pre, "use_regex", true, pw), path, ": pre_tokenizer.use_regex: only true is supported, got false");
  // (if-raise, not require: the message's arguments may only be built when the check fails)
  if (const nlohmann::json* n = optional_field(j, "normalizer"))
    raise<format_error>(path, ": normalizer: expected null for a byte-level BPE, got ", type_of(*n));
  for (const char* unsupported : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const std::string value = opt_string(model, unsupported, "", path + ": model");
    if (!value.empty())
      raise<format_error>(path, ": model.", unsupported, ": expected null or \"\" for a byte-level BPE, got \"", value, "\"");
  }
  vocabulary v = vocabulary_from_json(field(model, "vocab", path + ": model"), path + ": model.vocab");
  add_json_duplicates(v, duplicates, "/model/vocab");  // a repeated token keeps its last id, reported
  std::vector<std::pair<std::string, std::string>> merges;
  const auto& m = field(model, "merges", path + ": model");
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
                            i, "]: expected \"a b\" or [\"a\", \"b\"], got ", ::autodidact::detail::dump_json(x));
      merges.emplace_back(x[0].get<std::string>(), x[1].get<std::string>());
    }
  }
  auto common = read_common(j, path);
  post_processor post = read_post_processor(common.post, v, path);
  check_added(common.added, v, path);
  check_common(common, v, path);
  return byte_level_bpe_tokenizer(byte_level_bpe_model(std::move(v), merges, path + ": model.merges"), std::move(common.added),
                                  std::move(post), std::move(common.defaults));
}
}  // namespace detail

// A WordPiece tokenizer.json (BERT, MiniLM, ...).
inline wordpiece_tokenizer load_wordpiece_tokenizer_json(const std::string& path) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_file(path, &dups);
  return detail::wordpiece_from_json(j, path, dups);
}
inline wordpiece_tokenizer wordpiece_tokenizer_json_from_string(std::string_view text, const std::string& source) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_text(text, source, &dups);
  return detail::wordpiece_from_json(j, source, dups);
}

// A byte-level BPE tokenizer.json (GPT-2 style).
inline byte_level_bpe_tokenizer load_byte_level_bpe_tokenizer_json(const std::string& path) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_file(path, &dups);
  return detail::byte_level_bpe_from_json(j, path, dups);
}
inline byte_level_bpe_tokenizer byte_level_bpe_tokenizer_json_from_string(std::string_view text, const std::string& source) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_text(text, source, &dups);
  return detail::byte_level_bpe_from_json(j, source, dups);
}

using any_tokenizer = std::variant<wordpiece_tokenizer, byte_level_bpe_tokenizer>;

namespace detail {
inline any_tokenizer any_from_json(const nlohmann::json& j, const std::string& path,
                                   const json_duplicates& duplicates = {}) {
  const std::string type = type_of(field(j, "model", path));
  if (type == "WordPiece") return wordpiece_from_json(j, path, duplicates);
  if (type == "BPE") return byte_level_bpe_from_json(j, path, duplicates);
  raise<format_error>(path, ": model.type: expected WordPiece or BPE, got ", type);
}
}  // namespace detail

// Either kind, chosen by model.type.
inline any_tokenizer load_tokenizer_json(const std::string& path) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_file(path, &dups);
  return detail::any_from_json(j, path, dups);
}
inline any_tokenizer tokenizer_json_from_string(std::string_view text, const std::string& source) {
  detail::json_duplicates dups;
  auto j = detail::parse_json_text(text, source, &dups);
  return detail::any_from_json(j, source, dups);
}

}  // namespace autodidact::tokenizers
