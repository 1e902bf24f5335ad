#pragma once
// The modules of a body (models/module_spec.hpp): embeddings, the
// projection of factorised embeddings, a Transformer block, the final
// LayerNorm and the pooler, each with its one parameter
// table. The heads are in include/autodidact/heads/.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <span>         // for std::span
#include <string>       // for std::string, std::to_string

#include "autodidact/config.hpp"              // for model_config, norm_placement
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule

namespace autodidact::models {

namespace detail {
constexpr std::size_t z(int v) noexcept { return static_cast<std::size_t>(v); }
}  // namespace detail

// Which optional body parts a config has.
constexpr bool has_embedding_norm(const model_config& c) noexcept { return c.embedding_norm; }
constexpr bool has_final_norm(const model_config& c) noexcept { return c.final_norm; }

// Token, position and segment embeddings (E = embedding_width() wide), and
// (BERT) their LayerNorm.
struct embeddings_module {
  enum param : std::size_t { token, position, segment, norm_gain, norm_bias, count };
  static constexpr bool is_head = false;
  static constexpr std::array<param_spec, count> parameters(const model_config& c) {
    using detail::z;
    const std::size_t d = z(c.embedding_width()), norm = has_embedding_norm(c) ? d : 0;
    const int pad = family_of(c) == hf_family::bert ? 0 : -1;  // BertEmbeddings' padding_idx
    return {{{"token_embedding", z(c.vocab), d, param_role::embedding, false, pad},
             {"position_embedding", z(c.max_positions), d, param_role::embedding},
             {"segment_embedding", z(c.type_vocab), d, param_role::embedding},
             {"embedding_ln.gain", norm, 0, param_role::norm_gain},
             {"embedding_ln.bias", norm, 0, param_role::norm_bias}}};
  }
  static std::string prefix(int) { return ""; }
  static std::string hf_prefix(hf_family f, int) { return f != hf_family::gpt2 ? "embeddings." : ""; }
  static constexpr hf_rule bert_rules[] = {{token, "word_embeddings.weight"},
                                           {position, "position_embeddings.weight"},
                                           {segment, "token_type_embeddings.weight"},
                                           {norm_gain, "LayerNorm.weight"},
                                           {norm_bias, "LayerNorm.bias"}};
  static constexpr hf_rule gpt2_rules[] = {{token, "wte.weight"}, {position, "wpe.weight"}};
  static std::span<const hf_rule> hf_rules(hf_family f) {
    return f != hf_family::gpt2 ? std::span<const hf_rule>(bert_rules) : std::span<const hf_rule>(gpt2_rules);
  }
};

// Factorised embeddings' projection into the blocks, Linear(E → C)
// (ELECTRA's embeddings_project): present only when embedding_size is
// neither 0 nor d_model.
struct embedding_projection_module {
  enum param : std::size_t { weight, bias, count };
  static constexpr bool is_head = false;
  static constexpr std::array<param_spec, count> parameters(const model_config& c) {
    const bool on = c.factorised_embeddings();
    const std::size_t d = on ? detail::z(c.d_model) : 0, e = detail::z(c.embedding_width());
    return {{{"weight", d, e, param_role::matrix, true}, {"bias", d, 0, param_role::bias}}};
  }
  static std::string prefix(int) { return "embedding_projection."; }
  // ELECTRA's name; no other family has the module (the same name serves).
  static std::string hf_prefix(hf_family, int) { return "embeddings_project."; }
  static constexpr hf_rule rules[] = {{weight, "weight"}, {bias, "bias"}};
  static std::span<const hf_rule> hf_rules(hf_family) { return rules; }
};

// One Transformer block: LayerNorms, fused QKV, attention output, and the
// two feed-forward matrices. Weights are [out, in].
struct block_module {
  enum param : std::size_t {
    ln1_gain, ln1_bias,        // [C]     (post-LN: after attention)
    qkv_weight, qkv_bias,      // [3C, C], [3C]
    proj_weight, proj_bias,    // [C, C], [C]
    ln2_gain, ln2_bias,        // [C]     (post-LN: after feed-forward)
    ff1_weight, ff1_bias,      // [F, C], [F]
    ff2_weight, ff2_bias,      // [C, F], [C]
    count
  };
  static constexpr bool is_head = false;
  static constexpr std::array<param_spec, count> parameters(const model_config& c) {
    using detail::z;
    const std::size_t d = z(c.d_model), f = z(c.d_ff);
    return {{{"ln1.gain", d, 0, param_role::norm_gain},
             {"ln1.bias", d, 0, param_role::norm_bias},
             {"qkv.weight", 3 * d, d, param_role::matrix, true},
             {"qkv.bias", 3 * d, 0, param_role::bias},
             {"proj.weight", d, d, param_role::residual_matrix, true},
             {"proj.bias", d, 0, param_role::bias},
             {"ln2.gain", d, 0, param_role::norm_gain},
             {"ln2.bias", d, 0, param_role::norm_bias},
             {"ff1.weight", f, d, param_role::matrix, true},
             {"ff1.bias", f, 0, param_role::bias},
             {"ff2.weight", d, f, param_role::residual_matrix, true},
             {"ff2.bias", d, 0, param_role::bias}}};
  }
  static std::string prefix(int l) { return "blocks." + std::to_string(l) + "."; }
  static std::string hf_prefix(hf_family f, int l) {
    return (f != hf_family::gpt2 ? "encoder.layer." : "h.") + std::to_string(l) + ".";
  }
  static constexpr hf_rule bert_rules[] = {
      {qkv_weight, "attention.self.query.weight", 0, 3},  {qkv_bias, "attention.self.query.bias", 0, 3},
      {qkv_weight, "attention.self.key.weight", 1, 3},    {qkv_bias, "attention.self.key.bias", 1, 3},
      {qkv_weight, "attention.self.value.weight", 2, 3},  {qkv_bias, "attention.self.value.bias", 2, 3},
      {proj_weight, "attention.output.dense.weight"},     {proj_bias, "attention.output.dense.bias"},
      {ln1_gain, "attention.output.LayerNorm.weight"},    {ln1_bias, "attention.output.LayerNorm.bias"},
      {ff1_weight, "intermediate.dense.weight"},          {ff1_bias, "intermediate.dense.bias"},
      {ff2_weight, "output.dense.weight"},                {ff2_bias, "output.dense.bias"},
      {ln2_gain, "output.LayerNorm.weight"},              {ln2_bias, "output.LayerNorm.bias"}};
  static constexpr hf_rule gpt2_rules[] = {
      {ln1_gain, "ln_1.weight"},     {ln1_bias, "ln_1.bias"},
      {qkv_weight, "attn.c_attn.weight", 0, 1, true},  {qkv_bias, "attn.c_attn.bias"},
      {proj_weight, "attn.c_proj.weight", 0, 1, true}, {proj_bias, "attn.c_proj.bias"},
      {ln2_gain, "ln_2.weight"},     {ln2_bias, "ln_2.bias"},
      {ff1_weight, "mlp.c_fc.weight", 0, 1, true},     {ff1_bias, "mlp.c_fc.bias"},
      {ff2_weight, "mlp.c_proj.weight", 0, 1, true},   {ff2_bias, "mlp.c_proj.bias"}};
  static std::span<const hf_rule> hf_rules(hf_family f) {
    return f != hf_family::gpt2 ? std::span<const hf_rule>(bert_rules) : std::span<const hf_rule>(gpt2_rules);
  }
};

// The final LayerNorm of a pre-LN body (GPT-2's ln_f).
struct final_norm_module {
  enum param : std::size_t { gain, bias, count };
  static constexpr bool is_head = false;
  static constexpr std::array<param_spec, count> parameters(const model_config& c) {
    const std::size_t d = has_final_norm(c) ? detail::z(c.d_model) : 0;
    return {{{"gain", d, 0, param_role::norm_gain}, {"bias", d, 0, param_role::norm_bias}}};
  }
  static std::string prefix(int) { return "final_ln."; }
  static std::string hf_prefix(hf_family, int) { return "ln_f."; }
  static constexpr hf_rule rules[] = {{gain, "weight"}, {bias, "bias"}};
  static std::span<const hf_rule> hf_rules(hf_family) { return rules; }
};

// BERT's pooler: tanh(W h[CLS] + b).
struct pooler_module {
  enum param : std::size_t { weight, bias, count };
  static constexpr bool is_head = false;
  static constexpr std::array<param_spec, count> parameters(const model_config& c) {
    const std::size_t d = c.pooler ? detail::z(c.d_model) : 0;
    return {{{"weight", d, d, param_role::matrix, true}, {"bias", d, 0, param_role::bias}}};
  }
  static std::string prefix(int) { return "pooler."; }
  static std::string hf_prefix(hf_family, int) { return "pooler.dense."; }
  static constexpr hf_rule rules[] = {{weight, "weight"}, {bias, "bias"}};
  static std::span<const hf_rule> hf_rules(hf_family) { return rules; }
};

}  // namespace autodidact::models
