#pragma once
// Checkpoints: autodidact's own format, and Hugging Face model folders.
//
// Our format is a safetensors file holding every parameter of a model's
// arena (one tensor per parameter, no alignment padding) and, in its
// __metadata__, the model's config:
//   "format": "autodidact"            "format_version": "1"
//   "names": "autodidact" | "bert_model" | "bert_pretraining" | "gpt2_model" | "gpt2_lm"
//            | "electra_generator" | "electra_discriminator"
//   "config.vocab": "30522", ... one entry per model_config field (hf_config.hpp)
// The tensor names are our layout's ("blocks.3.qkv.weight", see
// parameter_map below) or, when saved with Hugging Face names, those of
// io/hf_names.hpp, so transformers can read the file too.
//
//   io::save_checkpoint("model.safetensors", *model);
//   io::load_checkpoint("model.safetensors", *model);   // config_mismatch if the type differs
//   io::load_pretrained(hf_dir, *model);                // config.json + model.safetensors
//
// Loading checks the config first: when the file's config differs from the
// model type's, config_mismatch lists every differing field (expected = the
// type, got = the file). Then each tensor's presence, dtype class and shape
// (format_error / shape_error naming the file and tensor), and that its
// values are finite: a NaN or infinity is a format_error naming the file,
// the tensor and the first bad element, unless load_options::
// allow_non_finite is set (loading from a safetensors_file follows that
// file's set_allow_non_finite instead).

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int64_t
#include <filesystem>   // for std::filesystem::path, exists
#include <map>          // for std::map
#include <optional>     // for std::optional
#include <set>          // for std::set
#include <span>         // for std::span, std::as_bytes
#include <string>       // for std::string, std::to_string
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::remove_cvref_t
#include <vector>       // for std::vector

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/core/error.hpp"          // for raise, require, format_error, config_mismatch
#include "autodidact/io/hf_config.hpp"        // for load_hf_config, config_to_metadata, check_config_matches
#include "autodidact/io/hf_names.hpp"         // for hf_naming, hf_tensor, hf_parameter_map, read_hf_tensor
#include "autodidact/io/safetensors.hpp"      // for safetensors_file, write_safetensors, tensor_ref
#include "autodidact/models/memory_plan.hpp"  // for parameter_layout

namespace autodidact::io {

inline constexpr std::string_view checkpoint_format = "autodidact";
// Version 2 adds the config fields attention, embedding_norm and
// final_norm; version-1 files still load (their fields follow from norm).
inline constexpr std::string_view checkpoint_format_version = "2";

// Our names for every parameter of layout `p` (only those the layout has):
// each module's prefix and the names of its table (models/modules.hpp,
// heads/), e.g.
//   token_embedding [V, C], position_embedding [P, C], segment_embedding [S, C],
//   embedding_ln.{gain,bias} [C],
//   blocks.<l>.{ln1,ln2}.{gain,bias} [C], blocks.<l>.qkv.weight [3C, C], .qkv.bias [3C],
//   blocks.<l>.proj.weight [C, C], .proj.bias [C], .ff1.weight [F, C], .ff1.bias [F],
//   .ff2.weight [C, F], .ff2.bias [C],
//   final_ln.{gain,bias} [C], pooler.weight [C, C], pooler.bias [C],
//   mlm.dense.weight [C, C], mlm.dense.bias [C], mlm.ln.{gain,bias} [C], mlm.output_bias [V],
//   nsp.weight [2, C], nsp.bias [2], lm_head.weight [V, C]
template <model_config C, class Layout>
std::vector<hf_tensor> parameter_map(const Layout& p) {
  std::vector<hf_tensor> out;
  p.for_each_parameter([&](const auto& m, std::size_t, const models::param_spec& spec, std::size_t offset) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    const auto rows = static_cast<std::int64_t>(spec.rows), cols = static_cast<std::int64_t>(spec.cols);
    out.push_back({M::prefix(m.index) + std::string(spec.name), offset,
                   spec.cols == 0 ? std::vector<std::int64_t>{rows} : std::vector<std::int64_t>{rows, cols}, false});
  });
  return out;
}

inline std::string_view naming_name(std::optional<hf_naming> naming) {
  if (!naming) return "autodidact";
  switch (*naming) {
    case hf_naming::bert_model:
      return "bert_model";
    case hf_naming::bert_pretraining:
      return "bert_pretraining";
    case hf_naming::gpt2_model:
      return "gpt2_model";
    case hf_naming::gpt2_lm:
      return "gpt2_lm";
    case hf_naming::electra_generator:
      return "electra_generator";
    case hf_naming::electra_discriminator:
      return "electra_discriminator";
  }
  return "?";
}

inline std::optional<hf_naming> parse_naming(std::string_view name, std::string_view source) {
  for (hf_naming n : all_hf_namings) {
    if (naming_name(n) == name) return n;
  }
  if (name == "autodidact") return std::nullopt;
  raise<format_error>(source, ": metadata \"names\" = \"", name,
                      "\": expected autodidact, bert_model, bert_pretraining, gpt2_model, gpt2_lm, ",
                      "electra_generator or electra_discriminator");
}

struct checkpoint_options {
  std::optional<hf_naming> hf_names;          // nullopt: our names (parameter_map)
  std::map<std::string, std::string> metadata;  // extra entries (must not clash with ours)
  // Only {"format": "pt"} as metadata, as transformers' from_pretrained
  // requires (io/hf_export.hpp); such a file is not an autodidact
  // checkpoint (load it with load_pretrained).
  bool transformers_metadata = false;
};

// Writes every parameter of `model` (Model::config, Model::layout,
// model.parameters()) to `path`, with the config in the metadata. The
// arena is written without a copy (except Conv1D weights saved with GPT-2
// names, which are transposed).
template <class Model>
void save_checkpoint(const std::filesystem::path& path, const Model& model, const checkpoint_options& options = {}) {
  constexpr model_config C = Model::config;
  using T = typename Model::value_type;
  const auto params = model.parameters();
  const std::vector<hf_tensor> map =
      options.hf_names ? hf_parameter_map<C>(Model::layout, *options.hf_names) : parameter_map<C>(Model::layout);
  std::vector<std::vector<T>> transposed;  // copies for Conv1D weights
  transposed.reserve(map.size());
  std::vector<tensor_ref> refs;
  refs.reserve(map.size());
  for (const hf_tensor& e : map) {
    std::size_t count = 1;
    for (std::int64_t d : e.shape) count *= static_cast<std::size_t>(d);
    require(e.offset + count <= params.size(), path.string(), ": tensor '", e.name, "' lies outside the parameter arena");
    const T* src = params.data() + e.offset;
    if (e.transposed) {  // ours [out, in] → file [in, out]
      const std::size_t rows = static_cast<std::size_t>(e.shape[0]), cols = static_cast<std::size_t>(e.shape[1]);
      std::vector<T>& t = transposed.emplace_back(count);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) t[i * cols + j] = src[j * rows + i];
      refs.push_back(tensor_ref::of<T>(e.name, e.shape, std::span<const T>(t)));
    } else {
      refs.push_back(tensor_ref::of<T>(e.name, e.shape, std::span<const T>(src, count)));
    }
  }
  std::map<std::string, std::string> metadata;
  if (options.transformers_metadata) {
    require(options.hf_names.has_value(), path.string(), ": transformers metadata needs Hugging Face names");
    metadata["format"] = "pt";
  } else {
    metadata = config_to_metadata(C);
    metadata["format"] = std::string(checkpoint_format);
    metadata["format_version"] = std::string(checkpoint_format_version);
    metadata["names"] = std::string(naming_name(options.hf_names));
  }
  for (const auto& [k, v] : options.metadata) {
    require(!metadata.contains(k), path.string(), ": extra metadata key '", k, "' clashes with the checkpoint's own");
    metadata[k] = v;
  }
  write_safetensors(path, std::span<const tensor_ref>(refs), metadata);
}

// The model config stored in an autodidact checkpoint (format_error when
// the file is not one).
inline model_config checkpoint_config(const safetensors_file& file) {
  const auto& m = file.metadata();
  auto it = m.find("format");
  if (it == m.end() || it->second != checkpoint_format) {
    raise<format_error>(file.source(), ": not an autodidact checkpoint (metadata \"format\" is ",
                        it == m.end() ? std::string("absent") : "\"" + it->second + "\"",
                        ", expected \"autodidact\"); for a Hugging Face file use io::load_pretrained or "
                        "io::load_hf_parameters");
  }
  auto version = m.find("format_version");
  if (version == m.end() || (version->second != "1" && version->second != checkpoint_format_version)) {
    raise<format_error>(file.source(), ": checkpoint format_version ",
                        version == m.end() ? std::string("absent") : "\"" + version->second + "\"",
                        ", expected \"1\" or \"", checkpoint_format_version, "\"");
  }
  return config_from_metadata(m, file.source(), version->second == "1" ? 1 : 2);
}

namespace detail {
template <model_config C, class T>
void load_mapped(const safetensors_file& file, const std::vector<hf_tensor>& map, std::span<T> params) {
  for (const hf_tensor& entry : map) {
    if (!file.contains(entry.name)) {
      raise<format_error>(file.source(), ": the checkpoint has no tensor '", entry.name, "' (expected shape ",
                          shape_string(entry.shape), ")");
    }
    std::size_t count = 1;
    for (std::int64_t d : entry.shape) count *= static_cast<std::size_t>(d);
    require(entry.offset + count <= params.size(), file.source(), ": tensor '", entry.name,
            "' lies outside the parameter arena");
    read_hf_tensor(file, entry, params.data());
  }
}
}  // namespace detail

// How checkpoints are loaded.
struct load_options {
  bool allow_non_finite = false;  // accept NaN and infinite weights (rejected by default)
};

// Loads an autodidact checkpoint into `model` after checking its config.
// Non-finite values are rejected unless file.allows_non_finite().
template <class Model>
void load_checkpoint(const safetensors_file& file, Model& model) {
  constexpr model_config C = Model::config;
  check_config_matches(C, checkpoint_config(file), file.source());
  const std::optional<hf_naming> naming = parse_naming(file.metadata().find("names") != file.metadata().end()
                                                           ? std::string_view(file.metadata().find("names")->second)
                                                           : std::string_view("autodidact"),
                                                       file.source());
  const std::vector<hf_tensor> map = naming ? hf_parameter_map<C>(Model::layout, *naming) : parameter_map<C>(Model::layout);
  detail::load_mapped<C>(file, map, model.parameters());
}
template <class Model>
void load_checkpoint(const std::filesystem::path& path, Model& model, const load_options& options = {}) {
  safetensors_file file = safetensors_file::open(path);
  file.set_allow_non_finite(options.allow_non_finite);
  load_checkpoint(file, model);
}

// What load_pretrained did.
struct pretrained_report {
  hf_naming naming{};                // the names found in the file
  std::size_t loaded = 0;            // tensors read
  std::vector<std::string> unused;   // tensors of the file the model has no place for (e.g. position_ids)
};

// Which Hugging Face names a file uses, judged from its token embedding.
template <model_config C>
hf_naming detect_hf_naming(const safetensors_file& file) {
  const bool bert = models::family_of(C) == models::hf_family::bert;
  if (bert) {
    if (file.contains("bert.embeddings.word_embeddings.weight")) return hf_naming::bert_pretraining;
    if (file.contains("electra.embeddings.word_embeddings.weight")) {
      return file.contains("generator_lm_head.bias") ? hf_naming::electra_generator
                                                     : hf_naming::electra_discriminator;
    }
    if (file.contains("embeddings.word_embeddings.weight")) return hf_naming::bert_model;
    raise<format_error>(file.source(), ": no BERT token embedding (looked for 'embeddings.word_embeddings.weight', "
                                       "'bert.embeddings.word_embeddings.weight' and "
                                       "'electra.embeddings.word_embeddings.weight')");
  }
  if (file.contains("transformer.wte.weight")) return hf_naming::gpt2_lm;
  if (file.contains("wte.weight")) return hf_naming::gpt2_model;
  raise<format_error>(file.source(), ": no GPT-2 token embedding (looked for 'wte.weight' and 'transformer.wte.weight')");
}

// Loads a Hugging Face model folder (config.json + model.safetensors, as
// transformers' save_pretrained writes it) into `model`: the config must
// equal the model type's (config_mismatch lists each difference), the names
// are detected (BertModel or BertForPreTraining; GPT2Model or
// GPT2LMHeadModel) and every parameter of that map must be present. With
// BertModel / GPT2Model names the pretraining heads are left as they are.
template <class Model>
pretrained_report load_pretrained(const std::filesystem::path& dir, Model& model, const load_options& options = {}) {
  constexpr model_config C = Model::config;
  const std::filesystem::path config_path = dir / "config.json";
  const std::filesystem::path weights_path = dir / "model.safetensors";
  if (!std::filesystem::exists(config_path)) {
    raise<io_error>(config_path.string(), ": cannot open: the file does not exist (a Hugging Face model folder "
                                          "holds config.json and model.safetensors)");
  }
  if (!std::filesystem::exists(weights_path)) {
    std::string hint;
    if (std::filesystem::exists(dir / "pytorch_model.bin")) {
      hint = "; the folder has PyTorch-pickled weights (pytorch_model.bin), which autodidact never unpickles: "
             "convert them once with tools/convert_to_safetensors.py";
    }
    raise<io_error>(weights_path.string(), ": cannot open: the file does not exist", hint);
  }
  check_config_matches(C, load_hf_config(config_path), config_path.string());
  safetensors_file file = safetensors_file::open(weights_path);
  file.set_allow_non_finite(options.allow_non_finite);
  pretrained_report report;
  report.naming = detect_hf_naming<C>(file);
  const std::vector<hf_tensor> map = hf_parameter_map<C>(Model::layout, report.naming);
  detail::load_mapped<C>(file, map, model.parameters());
  report.loaded = map.size();
  std::set<std::string, std::less<>> used;
  for (const hf_tensor& e : map) used.insert(e.name);
  for (const std::string& name : file.names()) {
    if (!used.contains(name)) report.unused.push_back(name);
  }
  return report;
}

}  // namespace autodidact::io
