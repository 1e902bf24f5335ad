#pragma once
// Finite-difference gradient checks in double: central differences
// (f(x+h) − f(x−h)) / 2h against the analytic gradient, at every element or
// at a deterministic sample spread over the whole tensor.
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

// `samples` indices covering [0, n): all of them when samples >= n, else
// one per stratum [s·n/samples, (s+1)·n/samples), at a hashed place inside
// it, the first stratum at element 0 and the last at element n − 1. So
// every part of a tensor (every row of a matrix, both ends) is visited.
inline std::vector<std::size_t> spread_indices(std::size_t n, std::size_t samples) {
  std::vector<std::size_t> out;
  if (n == 0 || samples == 0) return out;
  if (samples >= n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (std::size_t s = 0; s < samples; ++s) {
    const std::size_t lo = s * n / samples, hi = (s + 1) * n / samples;  // hi > lo since samples < n
    std::size_t i = lo + (s * 2654435761u + 7) % (hi - lo);
    if (s == 0) i = 0;
    if (s + 1 == samples) i = n - 1;
    out.push_back(i);
  }
  return out;
}

// Checks d loss / d x[i] == analytic[i] at the given indices. `loss`
// recomputes the loss from the current x. Error measure:
// |numeric − analytic| / scale ≤ tol, scale = max(max |analytic| over
// x[0, n), scale_floor, 1e-8), so tiny gradients are not judged relatively
// (a model check passes 1e-3 of the model's largest gradient as the floor,
// DESIGN.md's rule for tensors that are zero in exact arithmetic). A
// non-finite numeric or analytic value is an infinite error.
inline void check_indices(const std::string& what, double* x, std::size_t n, const double* analytic,
                          const std::function<double()>& loss, const std::vector<std::size_t>& indices,
                          double h = 1e-5, double tol = 1e-6, double scale_floor = 0) {
  double scale = std::max(scale_floor, 1e-8);
  for (std::size_t i = 0; i < n; ++i)
    if (!(std::abs(analytic[i]) <= scale)) scale = std::isfinite(analytic[i]) ? std::abs(analytic[i]) : scale;
  REQUIRE(!indices.empty());
  double worst = -1;
  std::size_t worst_i = 0;
  double worst_num = 0;
  for (const std::size_t i : indices) {
    REQUIRE(i < n);
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double d = std::abs(numeric - analytic[i]) / scale;
    const double err = std::isfinite(d) ? d : HUGE_VAL;  // NaN or inf anywhere: fail
    if (err > worst) {
      worst = err;
      worst_i = i;
      worst_num = numeric;
    }
  }
  INFO(what << ": worst relative error " << worst << " at element " << worst_i << " of " << n << " ("
            << indices.size() << " checked; numeric " << worst_num << ", analytic "
            << analytic[worst_i] << ", scale " << scale << ")");
  CHECK(worst <= tol);
}

// Checks `samples` indices spread over [0, n) (spread_indices).
inline void check(const std::string& what, double* x, std::size_t n, const double* analytic,
                  const std::function<double()>& loss, std::size_t samples = 64, double h = 1e-5,
                  double tol = 1e-6, double scale_floor = 0) {
  check_indices(what, x, n, analytic, loss, spread_indices(n, samples), h, tol, scale_floor);
}

// Σ r ⊙ y: a random linear functional, so dL/dy = r.
inline double dot(const double* r, const double* y, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += r[i] * y[i];
  return s;
}

}  // namespace gradcheck
