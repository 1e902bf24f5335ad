#pragma once
// BERT's masked-LM head (BertLMPredictionHead) as a module:
//   logits[N, V] = LN(gelu(h Wdᵀ + bd)) Eᵀ + b_out
// with E the token embedding (the decoder is tied to it) and b_out its own
// output bias. Hugging Face: cls.predictions.*.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <span>         // for std::span
#include <string>       // for std::string

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule

namespace autodidact::heads {

struct mlm_head {
  enum param : std::size_t { dense_weight, dense_bias, norm_gain, norm_bias, output_bias, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    using models::param_role;
    const std::size_t d = static_cast<std::size_t>(c.d_model), v = static_cast<std::size_t>(c.vocab);
    return {{{"dense.weight", d, d, param_role::matrix, true},
             {"dense.bias", d, 0, param_role::bias},
             {"ln.gain", d, 0, param_role::norm_gain},
             {"ln.bias", d, 0, param_role::norm_bias},
             {"output_bias", v, 0, param_role::bias}}};
  }
  // The decoder matrix is the token embedding [V, C] (packed with the heads).
  static constexpr bool multiplies_token_embedding(const model_config&) noexcept { return true; }
  static std::string prefix(int) { return "mlm."; }
  static std::string hf_prefix(models::hf_family, int) { return "cls.predictions."; }
  static constexpr models::hf_rule rules[] = {{dense_weight, "transform.dense.weight"},
                                              {dense_bias, "transform.dense.bias"},
                                              {norm_gain, "transform.LayerNorm.weight"},
                                              {norm_bias, "transform.LayerNorm.bias"},
                                              {output_bias, "bias"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family) { return rules; }
};

}  // namespace autodidact::heads
