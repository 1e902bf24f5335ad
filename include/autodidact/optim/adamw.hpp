#pragma once
// AdamW over a flat parameter arena (torch.optim.AdamW semantics): one loop
// over the trainable parameters, with its two moment arenas. Optional
// gradient clipping by global norm (deterministic reduction).
//
// A non-finite gradient norm (a NaN or infinite gradient) is refused: the
// step raises numeric_error naming the norm and the first non-finite
// gradient, and leaves the parameters, the gradients, both moments and the
// step count untouched (one NaN gradient would otherwise turn almost every
// parameter NaN through the moments). The norm is computed when clipping
// (max_norm > 0), or on every step after set_check_finite(true).
//
//   adamw<float> opt(model.gradients().size(), {.lr = 1e-3});
//   opt.step(model.trainable_parameters(), model.gradients());

#include <cmath>    // for std::isfinite
#include <cstdint>  // for std::int64_t
#include <span>     // for std::span

#include "autodidact/core/arena.hpp"      // for arena
#include "autodidact/core/error.hpp"      // for require, raise, numeric_error
#include "autodidact/kernels/adamw.hpp"   // for adamw_update, global_norm, scale
#include "autodidact/kernels/common.hpp"  // for adamw_options

namespace autodidact::optim {

using kernels::adamw_options;

template <class T>
class adamw {
 public:
  adamw(std::size_t count, const adamw_options& options)
      : m_(count, "adamw: the first moment arena"), v_(count, "adamw: the second moment arena"), options_(options) {}

  const adamw_options& options() const noexcept { return options_; }
  void set_lr(double lr) noexcept { options_.lr = lr; }
  std::int64_t steps() const noexcept { return step_; }
  // Compute the gradient norm on every step (not only when clipping) and
  // refuse a non-finite one. Off by default: it reads the gradients once more.
  void set_check_finite(bool on) noexcept { check_finite_ = on; }
  bool check_finite() const noexcept { return check_finite_; }

  // One update: params -= AdamW(grads). With max_norm > 0 the gradients are
  // first scaled so their global norm is at most max_norm; returns the
  // global norm before clipping (0 when not computed). A non-finite norm
  // raises numeric_error and changes nothing (see the top).
  double step(std::span<T> params, std::span<T> grads, double max_norm = 0.0) {
    require(params.size() == m_.size() && grads.size() == m_.size(), "adamw.step: ", params.size(),
            " parameters and ", grads.size(), " gradients, the optimizer was set up for ", m_.size());
    const double norm = clip(grads, max_norm, check_finite_);
    ++step_;
    kernels::adamw_update(static_cast<std::ptrdiff_t>(params.size()), params.data(), grads.data(), m_.data(),
                          v_.data(), options_, step_);
    return norm;
  }

  // One update with parameter groups: ranges of the arena (e.g. a model's
  // plan::decay_groups, derived from its modules' tables) whose `decay` is
  // false get no weight decay, as Hugging Face's examples set up biases and
  // LayerNorm parameters. The ranges must cover the arena, in order.
  template <class Range>
  double step(std::span<T> params, std::span<T> grads, std::span<const Range> groups, double max_norm = 0.0) {
    require(params.size() == m_.size() && grads.size() == m_.size(), "adamw.step: ", params.size(),
            " parameters and ", grads.size(), " gradients, the optimizer was set up for ", m_.size());
    std::size_t at = 0;
    for (const Range& r : groups) {
      require(r.begin == at, "adamw.step: parameter group at ", r.begin, " should start at ", at,
              " (the groups must cover the arena in order)");
      at += r.count;
    }
    require(at == m_.size(), "adamw.step: the parameter groups cover ", at, " elements, the arena holds ", m_.size());
    const double norm = clip(grads, max_norm, check_finite_);
    ++step_;
    adamw_options no_decay = options_;
    no_decay.weight_decay = 0.0;
    for (const Range& r : groups) {
      kernels::adamw_update(static_cast<std::ptrdiff_t>(r.count), params.data() + r.begin, grads.data() + r.begin,
                            m_.data() + r.begin, v_.data() + r.begin, r.decay ? options_ : no_decay, step_);
    }
    return norm;
  }

  std::span<T> first_moment() noexcept { return m_.span(); }
  std::span<T> second_moment() noexcept { return v_.span(); }
  void set_steps(std::int64_t s) noexcept { step_ = s; }

 private:
  // Scales grads so their global norm is at most max_norm (when > 0);
  // returns the norm before (0 when not computed). A non-finite norm raises
  // numeric_error before anything is written.
  double clip(std::span<T> grads, double max_norm, bool check) const {
    double norm = 0.0;
    if (max_norm > 0.0 || check) {
      norm = kernels::global_norm(static_cast<std::ptrdiff_t>(grads.size()), grads.data());
      if (!std::isfinite(norm)) refuse(grads, norm);
      if (max_norm > 0.0 && norm > max_norm) {
        kernels::scale(static_cast<std::ptrdiff_t>(grads.size()), grads.data(),
                       static_cast<T>(max_norm / (norm + 1e-6)));
      }
    }
    return norm;
  }
  [[noreturn]] void refuse(std::span<const T> grads, double norm) const {
    std::size_t i = 0;
    while (i < grads.size() && std::isfinite(static_cast<double>(grads[i]))) ++i;
    if (i == grads.size()) {  // every gradient finite, their squares overflow
      raise<numeric_error>("adamw.step: the gradient norm is ", norm, " (the sum of squares overflows); step ",
                           step_ + 1, " refused, the parameters and moments are unchanged");
    }
    const double g = static_cast<double>(grads[i]);
    raise<numeric_error>("adamw.step: the gradient norm is ", norm, ": gradient ", i, " of ", grads.size(), " is ",
                         std::isnan(g) ? "NaN" : (g > 0 ? "+inf" : "-inf"), "; step ", step_ + 1,
                         " refused, the parameters and moments are unchanged");
  }

  arena<T> m_, v_;
  adamw_options options_;
  std::int64_t step_ = 0;
  bool check_finite_ = false;
};

}  // namespace autodidact::optim
