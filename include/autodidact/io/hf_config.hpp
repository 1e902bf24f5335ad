#pragma once
// model_config as text, at run time:
//   - from a Hugging Face config.json (BERT, ELECTRA and GPT-2 families):
//       model_config c = io::load_hf_config("model/config.json");
//   - to and from string metadata (the __metadata__ of our checkpoints):
//       config_to_metadata(c), config_from_metadata(map, source)
//   - as a C++ declaration (what tools/cpp/hf_config_to_cpp prints):
//       constexpr autodidact::model_config my_model{.vocab = 30522, ...};
//   - the differences between two configs, one line per field, and
//     check_config_matches(), which raises config_mismatch listing them all.
//
// Supported config.json files (anything else is a format_error saying why):
//   model_type "bert": BertModel / BertForPreTraining / BertForMaskedLM ...
//     position_embedding_type "absolute", hidden_act "gelu" (erf) or
//     "gelu_new" / "gelu_pytorch_tanh" (tanh); post-LN, pooler on (off when
//     "architectures" lists only BertForMaskedLM / BertLMHeadModel).
//   model_type "electra": as "bert", no pooler, embedding_size (default 128;
//     equal to hidden_size maps to 0) for factorised embeddings.
//   model_type "gpt2": n_inner null means 4 · n_embd; activation_function
//     "gelu_new" / "gelu_pytorch_tanh" (tanh) or "gelu" (erf); pre-LN, no
//     segments, no pooler.
// Fields the architecture does not depend on (dropout rates, initializer
// range, pad_token_id, transformers_version, ...) are ignored.

#include <charconv>     // for std::to_chars, std::from_chars
#include <cmath>        // for std::isfinite
#include <cstddef>      // for std::size_t
#include <filesystem>   // for std::filesystem::path
#include <fstream>      // for std::ifstream
#include <functional>   // for std::less
#include <map>          // for std::map
#include <sstream>      // for std::ostringstream
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <system_error> // for std::errc
#include <utility>      // for std::pair
#include <vector>       // for std::vector

#include "autodidact/io/json.hpp"  // for parse_json, dump_json, nlohmann::json

#include "autodidact/config.hpp"      // for model_config, gelu_kind, norm_placement
#include "autodidact/core/error.hpp"  // for raise, format_error, io_error, config_mismatch

namespace autodidact::io {

namespace detail {

// The shortest text that reads back as the same double ("1e-12").
inline std::string double_text(double v) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, result.ptr);
}

inline std::string gelu_text(gelu_kind g) { return g == gelu_kind::erf ? "erf" : "tanh"; }
inline std::string norm_text(norm_placement n) { return n == norm_placement::post ? "post" : "pre"; }
inline std::string attention_text(attention_kind a) {
  return a == attention_kind::bidirectional ? "bidirectional" : "causal";
}

// Every field of model_config as (name, value as text, C++ initializer).
struct config_field {
  const char* name;
  std::string value;
  std::string cpp;
};

inline std::vector<config_field> config_fields(const model_config& c) {
  auto i = [](int v) { return std::to_string(v); };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  return {
      {"vocab", i(c.vocab), i(c.vocab)},
      {"max_positions", i(c.max_positions), i(c.max_positions)},
      {"d_model", i(c.d_model), i(c.d_model)},
      {"heads", i(c.heads), i(c.heads)},
      {"d_ff", i(c.d_ff), i(c.d_ff)},
      {"layers", i(c.layers), i(c.layers)},
      {"type_vocab", i(c.type_vocab), i(c.type_vocab)},
      {"layer_norm_eps", double_text(c.layer_norm_eps), double_text(c.layer_norm_eps)},
      {"gelu", gelu_text(c.gelu), "autodidact::gelu_kind::" + gelu_text(c.gelu)},
      {"norm", norm_text(c.norm), "autodidact::norm_placement::" + norm_text(c.norm)},
      {"tied_lm_head", b(c.tied_lm_head), b(c.tied_lm_head)},
      {"pooler", b(c.pooler), b(c.pooler)},
      {"attention", attention_text(c.attention), "autodidact::attention_kind::" + attention_text(c.attention)},
      {"embedding_norm", b(c.embedding_norm), b(c.embedding_norm)},
      {"final_norm", b(c.final_norm), b(c.final_norm)},
      {"embedding_size", i(c.embedding_size), i(c.embedding_size)},
  };
}

inline const nlohmann::json& hf_field(const nlohmann::json& j, const char* name, std::string_view source) {
  if (!j.contains(name)) raise<format_error>(source, ": missing field \"", name, "\"");
  return j[name];
}

inline int hf_int(const nlohmann::json& j, const char* name, std::string_view source) {
  const nlohmann::json& v = hf_field(j, name, source);
  if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 1'000'000'000) {
    raise<format_error>(source, ": field \"", name, "\": expected a non-negative integer, found ", ::autodidact::detail::dump_json(v));
  }
  return v.get<int>();
}

inline double hf_double(const nlohmann::json& j, const char* name, std::string_view source, double fallback) {
  if (!j.contains(name)) return fallback;
  const nlohmann::json& v = j[name];
  if (!v.is_number()) raise<format_error>(source, ": field \"", name, "\": expected a number, found ", ::autodidact::detail::dump_json(v));
  return v.get<double>();
}

inline bool hf_bool(const nlohmann::json& j, const char* name, std::string_view source, bool fallback) {
  if (!j.contains(name)) return fallback;
  const nlohmann::json& v = j[name];
  if (!v.is_boolean()) raise<format_error>(source, ": field \"", name, "\": expected true or false, found ", ::autodidact::detail::dump_json(v));
  return v.get<bool>();
}

inline std::string hf_string(const nlohmann::json& j, const char* name, std::string_view source,
                             const char* fallback) {
  if (!j.contains(name)) return fallback;
  const nlohmann::json& v = j[name];
  if (!v.is_string()) raise<format_error>(source, ": field \"", name, "\": expected a string, found ", ::autodidact::detail::dump_json(v));
  return v.get<std::string>();
}

inline gelu_kind hf_gelu(const std::string& act, const char* field, std::string_view source) {
  if (act == "gelu") return gelu_kind::erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return gelu_kind::tanh;
  raise<format_error>(source, ": field \"", field, "\" is \"", act,
                      "\": supported activations are \"gelu\" (erf) and \"gelu_new\" / \"gelu_pytorch_tanh\" (tanh)");
}

}  // namespace detail

// A Hugging Face config.json object → model_config. `source` names it in
// errors.
inline model_config parse_hf_config(const nlohmann::json& j, std::string_view source) {
  if (!j.is_object()) raise<format_error>(source, ": expected a JSON object, found a JSON ", j.type_name());
  const std::string type = detail::hf_string(j, "model_type", source, "");
  model_config c{};
  if (type == "bert" || type == "electra") {
    const bool electra = type == "electra";
    const std::string position = detail::hf_string(j, "position_embedding_type", source, "absolute");
    if (position != "absolute") {
      raise<format_error>(source, ": position_embedding_type \"", position,
                          "\" is not supported (only \"absolute\" learned position embeddings)");
    }
    c.vocab = detail::hf_int(j, "vocab_size", source);
    c.max_positions = detail::hf_int(j, "max_position_embeddings", source);
    c.d_model = detail::hf_int(j, "hidden_size", source);
    c.heads = detail::hf_int(j, "num_attention_heads", source);
    c.d_ff = detail::hf_int(j, "intermediate_size", source);
    c.layers = detail::hf_int(j, "num_hidden_layers", source);
    c.type_vocab = j.contains("type_vocab_size") ? detail::hf_int(j, "type_vocab_size", source) : 2;
    c.layer_norm_eps = detail::hf_double(j, "layer_norm_eps", source, 1e-12);
    c.gelu = detail::hf_gelu(detail::hf_string(j, "hidden_act", source, "gelu"), "hidden_act", source);
    c.norm = norm_placement::post;
    c.tied_lm_head = detail::hf_bool(j, "tie_word_embeddings", source, true);
    // ELECTRA has no pooler, nor have BERT's masked and causal LM classes
    // (add_pooling_layer=False): an "architectures" list of only those says so.
    bool lm_only = false;
    if (!electra && j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
      lm_only = true;
      for (const auto& a : j["architectures"])
        lm_only = lm_only && a.is_string() && (a == "BertForMaskedLM" || a == "BertLMHeadModel");
    }
    c.pooler = !electra && !lm_only;
    c.attention = attention_kind::bidirectional;
    c.embedding_norm = true;
    c.final_norm = false;
    if (electra) {  // ElectraConfig's default is 128; equal to hidden_size means not factorised
      const int e = j.contains("embedding_size") ? detail::hf_int(j, "embedding_size", source) : 128;
      if (e <= 0) raise<format_error>(source, ": embedding_size is ", e, ", expected a positive integer");
      c.embedding_size = e == c.d_model ? 0 : e;
    }
  } else if (type == "gpt2") {
    c.vocab = detail::hf_int(j, "vocab_size", source);
    c.max_positions = detail::hf_int(j, "n_positions", source);
    c.d_model = detail::hf_int(j, "n_embd", source);
    c.heads = detail::hf_int(j, "n_head", source);
    if (j.contains("n_inner") && !j["n_inner"].is_null()) {
      c.d_ff = detail::hf_int(j, "n_inner", source);
    } else {  // 4 · n_embd, which must fit the same bound as a given field
      if (c.d_model > 250'000'000) {
        raise<format_error>(source, ": n_inner is null, so the feed-forward size is 4 · n_embd = 4 · ", c.d_model,
                            ", which exceeds 1000000000");
      }
      c.d_ff = 4 * c.d_model;
    }
    c.layers = detail::hf_int(j, "n_layer", source);
    c.type_vocab = 0;
    c.layer_norm_eps = detail::hf_double(j, "layer_norm_epsilon", source, 1e-5);
    c.gelu = detail::hf_gelu(detail::hf_string(j, "activation_function", source, "gelu_new"), "activation_function",
                             source);
    c.norm = norm_placement::pre;
    c.tied_lm_head = detail::hf_bool(j, "tie_word_embeddings", source, true);
    c.pooler = false;
    c.attention = attention_kind::causal;
    c.embedding_norm = false;
    c.final_norm = true;
  } else {
    raise<format_error>(source, ": model_type \"", type,
                        "\" is not supported (supported: \"bert\" — BERT, MiniLM, all-MiniLM sentence "
                        "encoders —, \"electra\" and \"gpt2\")");
  }
  // The rules a model_config must satisfy (config.hpp's valid_config), so a
  // config that no model type can have is rejected here, naming the field.
  for (const auto& [value, name] : {std::pair{c.vocab, "vocabulary size"}, std::pair{c.max_positions, "number of positions"},
                                    std::pair{c.d_model, "hidden size"}, std::pair{c.heads, "number of attention heads"},
                                    std::pair{c.d_ff, "feed-forward size"}, std::pair{c.layers, "number of layers"}}) {
    if (value <= 0) raise<format_error>(source, ": the ", name, " is ", value, ", expected a positive integer");
  }
  if (!(c.layer_norm_eps > 0.0) || !std::isfinite(c.layer_norm_eps)) {
    raise<format_error>(source, ": the layer-norm epsilon is ", c.layer_norm_eps, ", expected a positive finite number");
  }
  if (c.d_model % c.heads != 0) {
    raise<format_error>(source, ": the hidden size ", c.d_model, " is not a multiple of the ", c.heads,
                        " attention heads");
  }
  return c;
}

// Parses the text of a config.json held in memory; `source` names it in
// errors.
inline model_config hf_config_from_string(std::string_view text, std::string_view source) {
  // A syntax error, or out_of_range 406 (a number too large).
  const auto parsed = ::autodidact::detail::try_parse_json(text);
  if (!parsed.ok) raise<format_error>(source, ": not valid JSON: ", parsed.message);
  return parse_hf_config(parsed.value, source);
}

// Reads and parses a config.json file.
inline model_config load_hf_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) raise<io_error>(path.string(), ": cannot open the file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) raise<io_error>(path.string(), ": read error");
  return hf_config_from_string(text.str(), path.string());
}

// "field: expected <a>, got <b>" for each field where `expected` and
// `actual` differ, in declaration order; empty when they are equal.
inline std::vector<std::string> config_differences(const model_config& expected, const model_config& actual) {
  std::vector<std::string> out;
  const auto a = detail::config_fields(expected), b = detail::config_fields(actual);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].value != b[i].value) out.push_back(std::string(a[i].name) + ": expected " + a[i].value + ", got " + b[i].value);
  }
  return out;
}

// Raises config_mismatch naming `source` and every differing field when the
// model type's config `expected` differs from the file's `actual`.
inline void check_config_matches(const model_config& expected, const model_config& actual, std::string_view source) {
  const std::vector<std::string> diffs = config_differences(expected, actual);
  if (diffs.empty()) return;
  std::string list;
  for (const std::string& d : diffs) list += "\n  " + d;
  raise<config_mismatch>(source, ": the file's model config differs from the model type's in ", diffs.size(),
                         diffs.size() == 1 ? " field" : " fields", " (expected = the model type, got = the file):",
                         list);
}

// model_config ↔ string metadata ("config.vocab" = "30522", ...).
inline std::map<std::string, std::string> config_to_metadata(const model_config& c) {
  std::map<std::string, std::string> out;
  for (const auto& f : detail::config_fields(c)) out[std::string("config.") + f.name] = f.value;
  return out;
}

// format_version 1 checkpoints predate the attention, embedding_norm and
// final_norm fields: they follow from `norm` (post: BERT's, pre: GPT-2's).
template <class Map>
model_config config_from_metadata(const Map& metadata, std::string_view source, int format_version = 2) {
  model_config c{};
  auto get = [&](const char* name) -> const std::string& {
    auto it = metadata.find(std::string("config.") + name);
    if (it == metadata.end()) {
      raise<format_error>(source, ": the metadata has no \"config.", name,
                          "\" (an autodidact checkpoint stores every model_config field)");
    }
    return it->second;
  };
  auto integer = [&](const char* name) {
    const std::string& s = get(name);
    int v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
      raise<format_error>(source, ": metadata \"config.", name, "\" = \"", s, "\": expected an integer");
    }
    return v;
  };
  auto boolean = [&](const char* name) {
    const std::string& s = get(name);
    if (s != "true" && s != "false") {
      raise<format_error>(source, ": metadata \"config.", name, "\" = \"", s, "\": expected true or false");
    }
    return s == "true";
  };
  c.vocab = integer("vocab");
  c.max_positions = integer("max_positions");
  c.d_model = integer("d_model");
  c.heads = integer("heads");
  c.d_ff = integer("d_ff");
  c.layers = integer("layers");
  c.type_vocab = integer("type_vocab");
  {
    const std::string& s = get("layer_norm_eps");
    const auto r = std::from_chars(s.data(), s.data() + s.size(), c.layer_norm_eps);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
      raise<format_error>(source, ": metadata \"config.layer_norm_eps\" = \"", s, "\": expected a number");
    }
  }
  {
    const std::string& s = get("gelu");
    if (s != "erf" && s != "tanh") raise<format_error>(source, ": metadata \"config.gelu\" = \"", s, "\": expected erf or tanh");
    c.gelu = s == "erf" ? gelu_kind::erf : gelu_kind::tanh;
  }
  {
    const std::string& s = get("norm");
    if (s != "post" && s != "pre") raise<format_error>(source, ": metadata \"config.norm\" = \"", s, "\": expected post or pre");
    c.norm = s == "post" ? norm_placement::post : norm_placement::pre;
  }
  c.tied_lm_head = boolean("tied_lm_head");
  c.pooler = boolean("pooler");
  if (format_version < 2) {
    const bool post = c.norm == norm_placement::post;
    c.attention = post ? attention_kind::bidirectional : attention_kind::causal;
    c.embedding_norm = post;
    c.final_norm = !post;
    return c;
  }
  {
    const std::string& s = get("attention");
    if (s != "bidirectional" && s != "causal")
      raise<format_error>(source, ": metadata \"config.attention\" = \"", s, "\": expected bidirectional or causal");
    c.attention = s == "causal" ? attention_kind::causal : attention_kind::bidirectional;
  }
  c.embedding_norm = boolean("embedding_norm");
  c.final_norm = boolean("final_norm");
  // Added within version 2: absent means 0 (embeddings d_model wide).
  if (metadata.find("config.embedding_size") != metadata.end()) {
    c.embedding_size = integer("embedding_size");
    if (c.embedding_size < 0) {
      raise<format_error>(source, ": metadata \"config.embedding_size\" = ", c.embedding_size,
                          ": expected 0 (= d_model) or a positive width");
    }
  }
  return c;
}

// The C++ declaration of `c` named `name`, one field per line:
//   constexpr autodidact::model_config my_model{
//       .vocab = 30522,
//       ...
//       .pooler = true};
inline std::string config_declaration(const model_config& c, std::string_view name) {
  std::string out = "constexpr autodidact::model_config " + std::string(name) + "{";
  const auto fields = detail::config_fields(c);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    out += "\n    .";
    out += fields[i].name;
    out += " = " + fields[i].cpp + (i + 1 < fields.size() ? "," : "};");
  }
  return out + "\n";
}

}  // namespace autodidact::io
