#pragma once
// Hugging Face parameter names for the BERT, ELECTRA and GPT-2 families, mapped onto
// the parameter arena of encoder<> / decoder<> (models/memory_plan.hpp).
//
// Each entry says where a Hugging Face tensor lives in our arena and how it
// is stored there:
//   BERT's nn.Linear weights are [out, in], as ours; query, key and value
//   are three [C, C] matrices that fill rows [0, C), [C, 2C), [2C, 3C) of our
//   fused [3C, C] QKV weight.
//   GPT-2's Conv1D weights are [in, out] (y = x W + b): stored transposed
//   relative to ours; c_attn packs q, k, v along its output dimension.
// Tied weights (BERT's cls.predictions.decoder.weight, GPT-2's
// lm_head.weight, ELECTRA's generator_lm_head.weight) are the token
// embedding and are not listed.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int64_t
#include <span>         // for std::span
#include <string>       // for std::string, std::to_string
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::remove_cvref_t
#include <vector>       // for std::vector

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/core/error.hpp"          // for raise, shape_error
#include "autodidact/io/safetensors.hpp"      // for safetensors_file
#include "autodidact/models/memory_plan.hpp"  // for parameter_layout

namespace autodidact::io {

// Which Hugging Face class the names come from.
enum class hf_naming {
  bert_model,        // BertModel: "embeddings.…", "encoder.layer.<l>.…", "pooler.…"
  bert_pretraining,  // BertForPreTraining: "bert." prefix, plus "cls.…" heads
  gpt2_model,        // GPT2Model: "wte.…", "h.<l>.…", "ln_f.…"
  gpt2_lm,           // GPT2LMHeadModel: "transformer." prefix
  electra_generator,      // ElectraForMaskedLM: "electra." prefix (BERT's body names, plus
                          // "embeddings_project.…"), heads "generator_predictions.…", "generator_lm_head.bias"
  electra_discriminator,  // ElectraForPreTraining and ELECTRA task models: the "electra." body only
                          // (ElectraModel itself is named as BertModel: bert_model)
};

// Every naming, for loops and messages.
inline constexpr hf_naming all_hf_namings[] = {hf_naming::bert_model,        hf_naming::bert_pretraining,
                                               hf_naming::gpt2_model,        hf_naming::gpt2_lm,
                                               hf_naming::electra_generator, hf_naming::electra_discriminator};

struct hf_tensor {
  std::string name;                 // Hugging Face name
  std::size_t offset = 0;           // element offset in our parameter arena
  std::vector<std::int64_t> shape;  // shape as Hugging Face stores it
  bool transposed = false;          // stored [in, out] (Conv1D): ours is the transpose
};

// The family of a naming, and whether it includes the heads.
constexpr models::hf_family family_of(hf_naming n) noexcept {
  switch (n) {
    case hf_naming::bert_model:
    case hf_naming::bert_pretraining:
      return models::hf_family::bert;
    case hf_naming::gpt2_model:
    case hf_naming::gpt2_lm:
      return models::hf_family::gpt2;
    case hf_naming::electra_generator:
    case hf_naming::electra_discriminator:
      return models::hf_family::electra;
  }
  return models::hf_family::bert;
}
constexpr bool names_heads(hf_naming n) noexcept {
  return n == hf_naming::bert_pretraining || n == hf_naming::gpt2_lm || n == hf_naming::electra_generator;
}
// The prefix of the body's names in a naming that has one.
constexpr std::string_view body_prefix(hf_naming n) noexcept {
  switch (n) {
    case hf_naming::bert_pretraining:
      return "bert.";
    case hf_naming::gpt2_lm:
      return "transformer.";
    case hf_naming::electra_generator:
    case hf_naming::electra_discriminator:
      return "electra.";
    default:
      return "";
  }
}

// The name map for model config C with our layout `p`, derived from each
// module's per-family rename rules (models/module_spec.hpp): the body's
// names get the class prefix (body_prefix: "bert.", "transformer.",
// "electra.") when the naming has one; the heads' names are listed only
// when the naming includes the heads. A parameter of the map's modules that
// the family has no name for is an invalid_argument (it could never load).
template <model_config C, class Layout>
std::vector<hf_tensor> hf_parameter_map(const Layout& p, hf_naming naming) {
  const models::hf_family family = family_of(naming);
  const std::string prefix(body_prefix(naming));
  std::vector<hf_tensor> out;
  p.for_each_module([&](const auto& m) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    if (!m.present || (M::is_head && !names_heads(naming))) return;
    const auto specs = M::parameters(C);
    const std::string pre = (M::is_head ? std::string() : prefix) + M::hf_prefix(family, m.index);
    std::array<bool, M::count> named{};
    for (const models::hf_rule& r : M::hf_rules(family)) named[r.param] = true;
    for (std::size_t i = 0; i < M::count; ++i) {
      require(m.at[i] == models::npos || named[i], "hf_parameter_map: the Hugging Face names of this family have ",
              "no name for parameter '", M::prefix(m.index), specs[i].name,
              "' of this config (no Hugging Face model of the family has it)");
    }
    for (const models::hf_rule& r : M::hf_rules(family)) {
      const models::param_spec& s = specs[r.param];
      if (m.at[r.param] == models::npos) continue;
      const std::size_t rows = s.rows / static_cast<std::size_t>(r.parts);
      const std::size_t offset =
          m.at[r.param] + static_cast<std::size_t>(r.part) * rows * (s.cols == 0 ? 1 : s.cols);
      const auto R = static_cast<std::int64_t>(rows), K = static_cast<std::int64_t>(s.cols);
      std::vector<std::int64_t> shape = s.cols == 0 ? std::vector<std::int64_t>{R}
                                        : r.transposed ? std::vector<std::int64_t>{K, R}
                                                       : std::vector<std::int64_t>{R, K};
      out.push_back({pre + std::string(r.name), offset, std::move(shape), r.transposed});
    }
  });
  return out;
}

// Reads tensor `prefix + entry.name` of `file` into `dst + entry.offset`,
// converting to T and undoing a Conv1D transposition.
template <class T>
void read_hf_tensor(const safetensors_file& file, const hf_tensor& entry, T* dst,
                    std::string_view prefix = {}) {
  const std::string name = std::string(prefix) + entry.name;
  std::size_t count = 1;
  for (std::int64_t e : entry.shape) count *= static_cast<std::size_t>(e);
  if (!entry.transposed) {
    file.read_into(name, std::span<T>(dst + entry.offset, count), std::span<const std::int64_t>(entry.shape));
    return;
  }
  std::vector<T> tmp(count);
  file.read_into(name, std::span<T>(tmp), std::span<const std::int64_t>(entry.shape));
  const std::size_t rows = static_cast<std::size_t>(entry.shape[0]),
                    cols = static_cast<std::size_t>(entry.shape[1]);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) dst[entry.offset + j * rows + i] = tmp[i * cols + j];
}

// Loads every parameter of the map from `file` (names prefixed by
// `prefix`, e.g. "param." in the golden fixtures) into params.
template <model_config C, class Layout, class T>
void load_hf_parameters(const safetensors_file& file, const Layout& layout,
                        hf_naming naming, std::span<T> params, std::string_view prefix = {}) {
  require(params.size() >= layout.total, "load_hf_parameters: the parameter arena holds ", params.size(),
          " elements, the layout needs ", layout.total);
  for (const hf_tensor& entry : hf_parameter_map<C>(layout, naming)) {
    const std::string name = std::string(prefix) + entry.name;
    require<format_error>(file.contains(name), file.source(), ": the checkpoint has no tensor '", name,
                          "' (expected shape ", detail::shape_string(entry.shape), ")");
    read_hf_tensor(file, entry, params.data(), prefix);
  }
}

}  // namespace autodidact::io
