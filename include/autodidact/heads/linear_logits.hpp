#pragma once
// What the heads that are one linear layer share (heads::lm_head,
// heads::nsp_head): their workspace is their logits (dlogits in place
// during backward), their parameters a linear layer's.

#include "autodidact/config.hpp"         // for model_config
#include "autodidact/layers/linear.hpp"  // for linear_params, linear_forward, linear_backward

namespace autodidact::heads {

struct linear_logits_head {
  template <class T>
  struct cache_type {
    T* logits = nullptr;
  };
  template <class T>
  static cache_type<T> cache(T* base, const model_config&, int, int) {
    return {base};
  }
  template <class T>
  using params_type = layers::linear_params<T>;
  template <class T>
  using grads_type = layers::linear_grads<T>;
};

// logits[n, out] of x[n, in].
template <class T>
void linear_logits_forward(const layers::linear_params<T>& p, int n, const T* x,
                           const linear_logits_head::cache_type<T>& k) {
  layers::linear_forward(p, n, x, k.logits);
}
// From dlogits (in k.logits): the head's gradients, and dx added into d_x.
template <class T>
void linear_logits_backward(const layers::linear_params<T>& p, const layers::linear_grads<T>& g, int n, const T* x,
                            const linear_logits_head::cache_type<T>& k, T* d_x) {
  layers::linear_backward(p, g, n, x, k.logits, d_x);
}

}  // namespace autodidact::heads
