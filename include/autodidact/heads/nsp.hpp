#pragma once
// BERT's next-sentence head (BertOnlyNSPHead's seq_relationship) as a
// module: logits[B, 2] = pooled Wᵀ + b, on the pooler's output. Present
// only in a config with a pooler. Hugging Face: cls.seq_relationship.*.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <span>         // for std::span
#include <string>       // for std::string

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/core/arena.hpp"          // for aligned_count
#include "autodidact/heads/linear_logits.hpp"  // for linear_logits_head
#include "autodidact/layers/typed/linear.hpp"  // for layers::linear
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule
#include "autodidact/precision.hpp"            // for precision_policy

namespace autodidact::heads {

struct nsp_head : linear_logits_head {  // workspace: the logits (linear_logits.hpp)
  enum param : std::size_t { weight, bias, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    using models::param_role;
    const std::size_t d = c.pooler ? static_cast<std::size_t>(c.d_model) : 0;
    const std::size_t two = c.pooler ? 2 : 0;
    return {{{"weight", two, d, param_role::matrix}, {"bias", two, 0, param_role::bias}}};
  }
  // The head as a typed Linear C → 2 (configs with a pooler), whose table
  // is this one's layout (encoder<> checks it).
  template <model_config C, precision_policy P>
  using layer_type = layers::linear<C.d_model, 2, P>;
  static std::string prefix(int) { return "nsp."; }
  static std::string hf_prefix(models::hf_family, int) { return "cls.seq_relationship."; }
  static constexpr models::hf_rule rules[] = {{weight, "weight"}, {bias, "bias"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family) { return rules; }

  // Workspace: the logits [B, 2].
  template <class T>
  static constexpr std::size_t workspace_elements(const model_config& c, int /*rows*/, int batch) {
    return c.pooler ? aligned_count<T>(2 * static_cast<std::size_t>(batch)) : 0;
  }
};

}  // namespace autodidact::heads
