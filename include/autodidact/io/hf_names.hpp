#pragma once
// Hugging Face parameter names for the BERT and GPT-2 families, mapped onto
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
// lm_head.weight) are the token embedding and are not listed.

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
};

struct hf_tensor {
  std::string name;                 // Hugging Face name
  std::size_t offset = 0;           // element offset in our parameter arena
  std::vector<std::int64_t> shape;  // shape as Hugging Face stores it
  bool transposed = false;          // stored [in, out] (Conv1D): ours is the transpose
};

// The family of a naming, and whether it includes the heads.
constexpr models::hf_family family_of(hf_naming n) noexcept {
  return n == hf_naming::bert_model || n == hf_naming::bert_pretraining ? models::hf_family::bert
                                                                        : models::hf_family::gpt2;
}
constexpr bool names_heads(hf_naming n) noexcept {
  return n == hf_naming::bert_pretraining || n == hf_naming::gpt2_lm;
}

// The name map for model config C with our layout `p`, derived from each
// module's per-family rename rules (models/module_spec.hpp): the body's
// names get the class prefix ("bert." / "transformer.") when the naming
// includes the heads; the heads' names are listed only then.
template <model_config C, class Layout>
std::vector<hf_tensor> hf_parameter_map(const Layout& p, hf_naming naming) {
  const models::hf_family family = family_of(naming);
  const std::string body_prefix =
      naming == hf_naming::bert_pretraining ? "bert." : naming == hf_naming::gpt2_lm ? "transformer." : "";
  std::vector<hf_tensor> out;
  p.for_each_module([&](const auto& m) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    if (!m.present || (M::is_head && !names_heads(naming))) return;
    const auto specs = M::parameters(C);
    const std::string pre = (M::is_head ? std::string() : body_prefix) + M::hf_prefix(family, m.index);
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
