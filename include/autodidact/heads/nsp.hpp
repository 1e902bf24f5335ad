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
#include "autodidact/layers/linear.hpp"       // for linear_forward, linear_backward
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, hf_rule

namespace autodidact::heads {

struct nsp_head {
  enum param : std::size_t { weight, bias, count };
  static constexpr bool is_head = true;
  static constexpr std::array<models::param_spec, count> parameters(const model_config& c) {
    using models::param_role;
    const std::size_t d = c.pooler ? static_cast<std::size_t>(c.d_model) : 0;
    const std::size_t two = c.pooler ? 2 : 0;
    return {{{"weight", two, d, param_role::matrix}, {"bias", two, 0, param_role::bias}}};
  }
  static std::string prefix(int) { return "nsp."; }
  static std::string hf_prefix(models::hf_family, int) { return "cls.seq_relationship."; }
  static constexpr models::hf_rule rules[] = {{weight, "weight"}, {bias, "bias"}};
  static std::span<const models::hf_rule> hf_rules(models::hf_family) { return rules; }

  // Workspace: the logits [B, 2] (dlogits in place during backward).
  template <class T>
  struct cache_type {
    T* logits = nullptr;
  };
  template <class T>
  static constexpr std::size_t workspace_elements(const model_config& c, int /*rows*/, int batch) {
    return c.pooler ? aligned_count<T>(2 * static_cast<std::size_t>(batch)) : 0;
  }
  template <class T>
  static cache_type<T> cache(T* base, const model_config&, int, int) {
    return {base};
  }
  template <class T>
  using params_type = layers::linear_params<T>;  // [2, C] and [2]
  template <class T>
  using grads_type = layers::linear_grads<T>;
};

// logits[b, 2] of pooled[b, C].
template <class T>
void nsp_forward(const nsp_head::params_type<T>& p, int b, const T* pooled, const nsp_head::cache_type<T>& k) {
  layers::linear_forward(p, b, pooled, k.logits);
}
// From dlogits (in k.logits): the head's gradients, and d pooled added into d_pooled.
template <class T>
void nsp_backward(const nsp_head::params_type<T>& p, const nsp_head::grads_type<T>& g, int b, const T* pooled,
                  const nsp_head::cache_type<T>& k, T* d_pooled) {
  layers::linear_backward(p, g, b, pooled, k.logits, d_pooled);
}

}  // namespace autodidact::heads
