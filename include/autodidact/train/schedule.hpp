#pragma once
// Learning-rate schedules: linear warmup from 0 to the peak over
// `warmup_steps`, then constant, linear decay or cosine decay to
// `final_fraction` x peak at `total_steps` (Hugging Face's
// get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup with
// final_fraction = 0). With `stable_fraction` = s > 0 the peak is held for
// that fraction of the steps after warmup and the decay takes the rest:
// warmup-stable-decay ("WSD", Hu et al. 2024, MiniCPM; Hägele et al. 2024
// find linear decay over the last 20 % as good as cosine). A pure function
// of the step, so a resumed run needs only the step.
//
//   train::lr_schedule s{.peak = 1e-3, .warmup_steps = 100, .total_steps = 5000, .decay = train::decay_kind::cosine};
//   train::lr_schedule wsd{.peak = 2e-3, .warmup_steps = 200, .total_steps = 20000, .stable_fraction = 0.8};
//   opt.set_lr(s.at(step));   // step = optimizer steps taken so far (0 for the first)

#include <algorithm>  // for std::min
#include <cmath>    // for std::cos, std::isfinite, std::ceil, std::nextafter
#include <cstdint>  // for std::int64_t

#include "autodidact/core/error.hpp"  // for require

namespace autodidact::train {

enum class decay_kind { constant, linear, cosine };

struct lr_schedule {
  double peak = 1e-3;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  decay_kind decay = decay_kind::linear;
  double final_fraction = 0.0;  // lr at total_steps, as a fraction of the peak
  double stable_fraction = 0.0; // of the steps after warmup, the share held at the peak before decaying

  void check() const {
    require(peak > 0.0 && std::isfinite(peak), "lr_schedule: peak learning rate ", peak, " must be positive");
    require(warmup_steps >= 0, "lr_schedule: warmup_steps = ", warmup_steps, " must not be negative");
    require(total_steps >= 1 && total_steps >= warmup_steps, "lr_schedule: total_steps = ", total_steps,
            " must be at least 1 and at least warmup_steps = ", warmup_steps);
    require(final_fraction >= 0.0 && final_fraction <= 1.0, "lr_schedule: final_fraction = ", final_fraction,
            " must be in [0, 1]");
    require(stable_fraction >= 0.0 && stable_fraction < 1.0, "lr_schedule: stable_fraction = ", stable_fraction,
            " must be in [0, 1) (the share of the steps after warmup held at the peak)");
  }

  // The step from which the learning rate decays (the first below the peak).
  std::int64_t decay_start() const {
    if (decay == decay_kind::constant) return total_steps;
    return warmup_steps + static_cast<std::int64_t>(std::ceil(stable_fraction * static_cast<double>(total_steps - warmup_steps)));
  }

  // The same schedule with its decay moved to run from step `start` to step
  // `end` (warmup_steps <= start < end): the peak is held until `start`.
  // The trainer's fit_decay_to_budget re-plans the decay with it.
  lr_schedule with_decay(std::int64_t start, std::int64_t end) const {
    require(start >= warmup_steps && end > start, "lr_schedule: a decay from step ", start, " to step ", end,
            " must start after the warmup (", warmup_steps, " steps) and end after it starts");
    lr_schedule s = *this;
    s.total_steps = end;
    const double held = static_cast<double>(start - warmup_steps), after = static_cast<double>(end - warmup_steps);
    s.stable_fraction = held / after;
    // Rounded down until the decay starts at `start` exactly (the quotient
    // times `after` can round up past `held`).
    while (s.stable_fraction * after > held) s.stable_fraction = std::nextafter(s.stable_fraction, 0.0);
    return s;
  }

  // The learning rate of the optimizer step that follows `step` steps
  // (warmup: step 0 gets peak / (warmup + 1), never 0).
  double at(std::int64_t step) const {
    if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps + 1);
    if (decay == decay_kind::constant || total_steps == warmup_steps) return peak;
    const double after = static_cast<double>(total_steps - warmup_steps);
    const double stable = stable_fraction * after;
    const double done = static_cast<double>(step - warmup_steps);
    if (done < stable) return peak;
    const double progress = std::min(1.0, (done - stable) / (after - stable));
    const double shape = decay == decay_kind::linear ? 1.0 - progress
                                                     : 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
    return peak * (final_fraction + (1.0 - final_fraction) * shape);
  }
};

}  // namespace autodidact::train
