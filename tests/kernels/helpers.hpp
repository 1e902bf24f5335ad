#pragma once
// Shared helpers of the kernel tests: seeded random buffers and a
// max-abs-error comparison relative to the reference's largest magnitude.

#include <algorithm>  // for std::max
#include <cmath>      // for std::abs, std::isinf, HUGE_VAL
#include <cstddef>    // for std::size_t
#include <random>     // for std::mt19937, std::uniform_real_distribution
#include <vector>     // for std::vector

namespace kernels_test {

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, T lo = T(-1), T hi = T(1)) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist{double(lo), double(hi)};
  std::vector<T> v(n);
  for (auto& x : v) x = T(dist(gen));
  return v;
}

// max |got - want| / max(max |want|, 1e-30): DESIGN.md's comparison rule
// (error relative to the largest reference magnitude of the output, so a
// small-valued output such as a softmax row or AdamW's v is judged at its
// own scale, not against 1). The floor only avoids dividing by zero: an
// all-zero reference must be matched exactly. A NaN or inf difference, or a
// size mismatch, is an infinite error.
template <class T>
double relative_error(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return HUGE_VAL;
  double err = 0, mag = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = std::abs(double(got[i]) - double(want[i]));
    if (!(d == d) || std::isinf(d)) return HUGE_VAL;  // NaN or inf: fail loudly
    err = std::max(err, d);
    mag = std::max(mag, std::abs(double(want[i])));
  }
  return err / std::max(mag, 1e-30);
}

// The tolerance of a kernel in float and double.
template <class T>
constexpr double tol(double float_tol, double double_tol) {
  return sizeof(T) == sizeof(float) ? float_tol : double_tol;
}

}  // namespace kernels_test
