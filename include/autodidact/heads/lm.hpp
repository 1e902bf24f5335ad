#pragma once
// GPT-2's language-model head as a module: logits[N, V] = h Wᵀ with W the
// token embedding when the config ties them (no parameter of its own) or
// its own [V, C] matrix. Hugging Face: lm_head.weight (untied only).

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

struct lm_head : linear_logits_head {  // workspace: the logits (linear_logits.hpp)
  enum param : std::size_t { weight, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    const std::size_t v = c.tied_lm_head ? 0 : static_cast<std::size_t>(c.vocab);
    return {{{"weight", v, static_cast<std::size_t>(c.d_model), models::param_role::matrix, true}}};
  }
  static constexpr bool multiplies_token_embedding(const model_config& c) noexcept { return c.tied_lm_head; }
  // The head as a typed Linear C → V without a bias. Untied, it views this
  // module's weight; tied, the token embedding [V, C] (the first entry of
  // the embeddings module, laid out as a bias-free Linear's table: the
  // typed layer only views it, and its gradient is the embedding's).
  // decoder<> checks either layout.
  template <model_config C, precision_policy P>
  using layer_type = layers::linear<C.d_model, C.vocab, P, false>;
  static std::string prefix(int) { return "lm_head."; }
  static std::string hf_prefix(models::hf_family, int) { return "lm_head."; }
  static constexpr models::hf_rule rules[] = {{weight, "weight"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family) { return rules; }

  // Workspace: the logits [N, V].
  template <class T>
  static constexpr std::size_t workspace_elements(const model_config& c, int rows, int /*batch*/) {
    return aligned_count<T>(static_cast<std::size_t>(rows) * static_cast<std::size_t>(c.vocab));
  }
};

}  // namespace autodidact::heads
