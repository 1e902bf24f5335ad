#pragma once
// Dropout drawn from the counter-based generator: element e of a tensor at
// `site` in training step `step` is kept when u(step, e, site) >= rate, and
// kept values are scaled by 1 / (1 - rate). The mask is a pure function of
// (seed, step, site, e), so it is the same for any thread count, and
// backward recomputes it instead of storing it.
//
//   forward   y = x ⊙ m / (1 − p)
//   backward  dx = dy ⊙ m / (1 − p)      (the same operation)
//
// PyTorch: torch.nn.Dropout(p) (its mask comes from a different generator,
// so only the statistics match, not the draws).

#include <cstddef>  // for std::ptrdiff_t
#include <cstdint>  // for std::uint32_t

#include "autodidact/core/error.hpp"  // for autodidact::require
#include "autodidact/core/rng.hpp"    // for philox_rng

namespace autodidact::layers {

struct dropout_site {
  const philox_rng* rng = nullptr;  // keyed by (seed, rng_stream::dropout)
  std::uint32_t step = 0;           // training step
  std::uint32_t site = 0;           // which tensor (layer, place in the layer)
  float rate = 0.0f;                // p in [0, 1)
  bool active() const noexcept { return rng != nullptr && rate > 0.0f; }
};

// x[n] *= mask / (1 − p), in place; the element index starts at `offset`
// (so a tensor may be processed in independent pieces).
template <class T>
void dropout_apply(const dropout_site& s, std::ptrdiff_t n, T* x, std::ptrdiff_t offset = 0) {
  if (!s.active()) return;
  require(s.rate < 1.0f, "dropout: rate ", s.rate, " must be below 1");
  const T keep_scale = T(1) / (T(1) - T(s.rate));
  // One Philox block serves four consecutive elements (element e uses word
  // e mod 4 of block e / 4), so it is drawn once per four elements.
  std::ptrdiff_t i = 0;
  while (i < n) {
    const std::ptrdiff_t e = offset + i;
    const auto u = s.rng->uniform4(s.step, static_cast<std::uint32_t>(e >> 2), s.site);
    for (std::ptrdiff_t w = e & 3; w < 4 && i < n; ++w, ++i) {
      x[i] = u[static_cast<std::size_t>(w)] >= s.rate ? x[i] * keep_scale : T(0);
    }
  }
}

// Backward is the same masking of the incoming gradient.
template <class T>
void dropout_backward(const dropout_site& s, std::ptrdiff_t n, T* dy, std::ptrdiff_t offset = 0) {
  dropout_apply(s, n, dy, offset);
}

}  // namespace autodidact::layers
