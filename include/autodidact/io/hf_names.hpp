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

// The name map for model config C with our layout `p`.
template <model_config C>
std::vector<hf_tensor> hf_parameter_map(const models::parameter_layout<C>& p, hf_naming naming) {
  const std::int64_t c = C.d_model, f = C.d_ff, v = C.vocab;
  std::vector<hf_tensor> out;
  auto add = [&](std::string name, std::size_t offset, std::vector<std::int64_t> shape,
                 bool transposed = false) {
    out.push_back({std::move(name), offset, std::move(shape), transposed});
  };
  if (naming == hf_naming::bert_model || naming == hf_naming::bert_pretraining) {
    const std::string pre = naming == hf_naming::bert_pretraining ? "bert." : "";
    add(pre + "embeddings.word_embeddings.weight", p.token_embedding, {v, c});
    add(pre + "embeddings.position_embeddings.weight", p.position_embedding, {C.max_positions, c});
    if (C.type_vocab > 0)
      add(pre + "embeddings.token_type_embeddings.weight", p.segment_embedding, {C.type_vocab, c});
    add(pre + "embeddings.LayerNorm.weight", p.embedding_ln_gain, {c});
    add(pre + "embeddings.LayerNorm.bias", p.embedding_ln_bias, {c});
    for (int l = 0; l < C.layers; ++l) {
      const auto& b = p.blocks[static_cast<std::size_t>(l)];
      const std::string L = pre + "encoder.layer." + std::to_string(l) + ".";
      const std::size_t cc = static_cast<std::size_t>(c) * static_cast<std::size_t>(c);
      add(L + "attention.self.query.weight", b.qkv_weight, {c, c});
      add(L + "attention.self.query.bias", b.qkv_bias, {c});
      add(L + "attention.self.key.weight", b.qkv_weight + cc, {c, c});
      add(L + "attention.self.key.bias", b.qkv_bias + static_cast<std::size_t>(c), {c});
      add(L + "attention.self.value.weight", b.qkv_weight + 2 * cc, {c, c});
      add(L + "attention.self.value.bias", b.qkv_bias + 2 * static_cast<std::size_t>(c), {c});
      add(L + "attention.output.dense.weight", b.proj_weight, {c, c});
      add(L + "attention.output.dense.bias", b.proj_bias, {c});
      add(L + "attention.output.LayerNorm.weight", b.ln1_gain, {c});
      add(L + "attention.output.LayerNorm.bias", b.ln1_bias, {c});
      add(L + "intermediate.dense.weight", b.ff1_weight, {f, c});
      add(L + "intermediate.dense.bias", b.ff1_bias, {f});
      add(L + "output.dense.weight", b.ff2_weight, {c, f});
      add(L + "output.dense.bias", b.ff2_bias, {c});
      add(L + "output.LayerNorm.weight", b.ln2_gain, {c});
      add(L + "output.LayerNorm.bias", b.ln2_bias, {c});
    }
    if constexpr (C.pooler) {
      add(pre + "pooler.dense.weight", p.pooler_weight, {c, c});
      add(pre + "pooler.dense.bias", p.pooler_bias, {c});
    }
    if (naming == hf_naming::bert_pretraining) {
      add("cls.predictions.bias", p.mlm_output_bias, {v});
      add("cls.predictions.transform.dense.weight", p.mlm_dense_weight, {c, c});
      add("cls.predictions.transform.dense.bias", p.mlm_dense_bias, {c});
      add("cls.predictions.transform.LayerNorm.weight", p.mlm_ln_gain, {c});
      add("cls.predictions.transform.LayerNorm.bias", p.mlm_ln_bias, {c});
      if constexpr (C.pooler) {
        add("cls.seq_relationship.weight", p.nsp_weight, {2, c});
        add("cls.seq_relationship.bias", p.nsp_bias, {2});
      }
    }
  } else {
    const std::string pre = naming == hf_naming::gpt2_lm ? "transformer." : "";
    add(pre + "wte.weight", p.token_embedding, {v, c});
    add(pre + "wpe.weight", p.position_embedding, {C.max_positions, c});
    for (int l = 0; l < C.layers; ++l) {
      const auto& b = p.blocks[static_cast<std::size_t>(l)];
      const std::string L = pre + "h." + std::to_string(l) + ".";
      add(L + "ln_1.weight", b.ln1_gain, {c});
      add(L + "ln_1.bias", b.ln1_bias, {c});
      add(L + "attn.c_attn.weight", b.qkv_weight, {c, 3 * c}, true);
      add(L + "attn.c_attn.bias", b.qkv_bias, {3 * c});
      add(L + "attn.c_proj.weight", b.proj_weight, {c, c}, true);
      add(L + "attn.c_proj.bias", b.proj_bias, {c});
      add(L + "ln_2.weight", b.ln2_gain, {c});
      add(L + "ln_2.bias", b.ln2_bias, {c});
      add(L + "mlp.c_fc.weight", b.ff1_weight, {c, f}, true);
      add(L + "mlp.c_fc.bias", b.ff1_bias, {f});
      add(L + "mlp.c_proj.weight", b.ff2_weight, {f, c}, true);
      add(L + "mlp.c_proj.bias", b.ff2_bias, {c});
    }
    add(pre + "ln_f.weight", p.final_ln_gain, {c});
    add(pre + "ln_f.bias", p.final_ln_bias, {c});
    if constexpr (!C.tied_lm_head) add("lm_head.weight", p.lm_head_weight, {v, c});
  }
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
template <model_config C, class T>
void load_hf_parameters(const safetensors_file& file, const models::parameter_layout<C>& layout,
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
