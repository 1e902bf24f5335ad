#pragma once
// Finite-difference gradient checks in double: central differences
// (f(x+h) − f(x−h)) / 2h against the analytic gradient, at every element or
// a deterministic sample of elements.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace gradcheck {

// Fills x[n] with N(0, stddev) draws from a seeded generator.
inline void fill_normal(double* x, std::size_t n, std::uint64_t seed, double stddev = 1.0,
                        double mean = 0.0) {
  const autodidact::philox_rng rng(seed, autodidact::rng_stream::init);
  for (std::size_t i = 0; i < n; ++i) x[i] = mean + stddev * rng.normal2(0, static_cast<std::uint32_t>(i))[0];
}

// Checks d loss / d x[i] == analytic[i] for `samples` indices spread over
// [0, n) (all of them when samples >= n). `loss` recomputes the loss from
// the current x. Error measure: |num − ana| ≤ tol · max(1, |num|, |ana|) ... scaled by
// the largest analytic magnitude so tiny gradients are not judged relatively.
inline void check(const std::string& what, double* x, std::size_t n, const double* analytic,
                  const std::function<double()>& loss, std::size_t samples = 64, double h = 1e-5,
                  double tol = 1e-6) {
  double scale = 0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(analytic[i]));
  scale = std::max(scale, 1e-8);
  const std::size_t count = std::min(samples, n);
  double worst = 0;
  std::size_t worst_i = 0;
  double worst_num = 0;
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t i = count == n ? s : (s * 2654435761u + 7) % n;
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double err = std::abs(numeric - analytic[i]) / scale;
    if (err > worst) {
      worst = err;
      worst_i = i;
      worst_num = numeric;
    }
  }
  INFO(what << ": worst relative error " << worst << " at element " << worst_i << " (numeric " << worst_num
            << ", analytic " << analytic[worst_i] << ", scale " << scale << ")");
  CHECK(worst <= tol);
}

// Σ r ⊙ y: a random linear functional, so dL/dy = r.
inline double dot(const double* r, const double* y, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += r[i] * y[i];
  return s;
}

}  // namespace gradcheck
