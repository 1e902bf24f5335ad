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
#include "autodidact/layers/linear.hpp"       // for linear_forward, linear_backward
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule

namespace autodidact::heads {

struct lm_head {
  enum param : std::size_t { weight, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    const std::size_t v = c.tied_lm_head ? 0 : static_cast<std::size_t>(c.vocab);
    return {{{"weight", v, static_cast<std::size_t>(c.d_model), models::param_role::matrix, true}}};
  }
  static constexpr bool multiplies_token_embedding(const model_config& c) noexcept { return c.tied_lm_head; }
  static std::string prefix(int) { return "lm_head."; }
  static std::string hf_prefix(models::hf_family, int) { return "lm_head."; }
  static constexpr models::hf_rule rules[] = {{weight, "weight"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family) { return rules; }

  // Workspace: the logits [N, V] (dlogits in place during backward).
  template <class T>
  struct cache_type {
    T* logits = nullptr;
  };
  template <class T>
  static constexpr std::size_t workspace_elements(const model_config& c, int rows, int /*batch*/) {
    return aligned_count<T>(static_cast<std::size_t>(rows) * static_cast<std::size_t>(c.vocab));
  }
  template <class T>
  static cache_type<T> cache(T* base, const model_config&, int, int) {
    return {base};
  }
  template <class T>
  using params_type = layers::linear_params<T>;  // [V, C], no bias
  template <class T>
  using grads_type = layers::linear_grads<T>;
};

// logits[n, V] of hidden[n, C].
template <class T>
void lm_forward(const lm_head::params_type<T>& p, int n, const T* hidden, const lm_head::cache_type<T>& k) {
  layers::linear_forward(p, n, hidden, k.logits);
}
// From dlogits (in k.logits): the weight's gradient, and d hidden added into d_hidden.
template <class T>
void lm_backward(const lm_head::params_type<T>& p, const lm_head::grads_type<T>& g, int n, const T* hidden,
                 const lm_head::cache_type<T>& k, T* d_hidden) {
  layers::linear_backward(p, g, n, hidden, k.logits, d_hidden);
}

}  // namespace autodidact::heads
