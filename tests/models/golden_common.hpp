#pragma once
// Shared by the golden model tests: DESIGN.md's comparison rule over a
// fixture written by tools/make_golden.py (see tests/golden/README.md).
#include <catch2/catch.hpp>

#include <autodidact/io/hf_names.hpp>
#include <autodidact/io/safetensors.hpp>
#include <autodidact/optim/adamw.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <span>
#include <type_traits>
#include <vector>

namespace golden {

inline std::string fixture_path(const std::string& name) {
  return std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/models/" + name + ".safetensors";
}

// The largest magnitude among the fixture's tensors whose names start with
// one of the prefixes (one "kind" in DESIGN.md's rule).
inline double kind_scale(const autodidact::io::safetensors_file& f,
                         std::initializer_list<std::string> prefixes) {
  double m = 0;
  for (const auto& name : f.names()) {
    bool match = false;
    for (const auto& p : prefixes) match = match || name.rfind(p, 0) == 0;
    if (!match) continue;
    for (double x : f.read<double>(name)) m = std::max(m, std::abs(x));
  }
  return m;
}

// max |ours − ref| ≤ tol · max(max |ref|, 1e-3 · M)
template <class T>
void compare(const std::string& what, const T* ours, const std::vector<double>& ref, double tol,
             double kind_max) {
  double err = 0, ref_max = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(ours[i]) - ref[i]));
    ref_max = std::max(ref_max, std::abs(ref[i]));
  }
  const double bound = tol * std::max(ref_max, 1e-3 * kind_max);
  INFO(what << ": max error " << err << ", bound " << bound << " (max |ref| " << ref_max << ")");
  CHECK(err <= bound);
}

template <class T>
void compare_tensor(const autodidact::io::safetensors_file& f, const std::string& name, const T* ours,
                    double tol, double kind_max) {
  REQUIRE(f.contains(name));
  compare(name, ours, f.read<double>(name), tol, kind_max);
}

// Compares every mapped parameter-shaped tensor `prefix + hf name` with the
// arena `values` (indexed by parameter offset minus `offset_base`).
template <autodidact::model_config C, class T>
void compare_parameters(const autodidact::io::safetensors_file& f,
                        const autodidact::models::parameter_layout<C>& layout,
                        autodidact::io::hf_naming naming, const std::string& prefix, const T* values,
                        std::size_t offset_base, double tol, double kind_max) {
  for (const auto& entry : autodidact::io::hf_parameter_map<C>(layout, naming)) {
    REQUIRE(entry.offset >= offset_base);
    std::vector<double> ref = f.read<double>(prefix + entry.name);
    if (entry.transposed) {  // Conv1D [in, out] -> ours [out, in]
      const std::size_t rows = static_cast<std::size_t>(entry.shape[0]),
                        cols = static_cast<std::size_t>(entry.shape[1]);
      std::vector<double> t(ref.size());
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = ref[i * cols + j];
      ref.swap(t);
    }
    compare(prefix + entry.name, values + (entry.offset - offset_base), ref, tol, kind_max);
  }
}

template <class T>
std::vector<std::int32_t> read_ids(const autodidact::io::safetensors_file& f, const std::string& name) {
  const auto v = f.read<std::int64_t>(name);
  return std::vector<std::int32_t>(v.begin(), v.end());
}

// Real lengths from the attention mask [B, T].
inline std::vector<std::int32_t> lengths_from_mask(const autodidact::io::safetensors_file& f, int batch,
                                                   int seq) {
  const auto mask = f.read<std::int64_t>("attention_mask");
  std::vector<std::int32_t> lengths(static_cast<std::size_t>(batch), 0);
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seq; ++t)
      lengths[static_cast<std::size_t>(b)] += mask[static_cast<std::size_t>(b * seq + t)] ? 1 : 0;
  return lengths;
}

struct tolerances {
  double forward, gradient, parameters;
};
template <class T>
constexpr tolerances tolerances_for() {
  if constexpr (std::is_same_v<T, double>)
    return {1e-10, 1e-9, 1e-9};
  else
    return {1e-5, 1e-4, 1e-6};
}

// The AdamW part of a golden test, after the gradient comparison (the
// model holds the gradients of the fixture's first loss). In double: three
// steps, each recomputing loss and gradient with `step_loss` (zero, forward,
// loss, backward; returns the loss), compared with after1 / train.loss.k /
// after3. In float: one step taken from the fixture's own gradients,
// compared with after1.
template <autodidact::model_config C, class Model, class StepLoss>
void check_adamw_steps(const autodidact::io::safetensors_file& f, Model& model,
                       autodidact::io::hf_naming naming, const StepLoss& step_loss, const tolerances& tol,
                       double fwd_max, double after_max) {
  using T = typename Model::T;
  const autodidact::kernels::adamw_options adam{
      .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
  const auto& layout = Model::layout;
  if constexpr (std::is_same_v<T, double>) {
    autodidact::optim::adamw<T> opt(model.gradients().size(), adam);
    opt.step(model.trainable_parameters(), model.gradients());
    compare_parameters<C>(f, layout, naming, "after1.", model.parameters().data(), 0, tol.parameters,
                          after_max);
    for (int step = 2; step <= 3; ++step) {
      const T l = step_loss();
      compare_tensor(f, "train.loss." + std::to_string(step), &l, tol.forward, fwd_max);
      opt.step(model.trainable_parameters(), model.gradients());
    }
    compare_parameters<C>(f, layout, naming, "after3.", model.parameters().data(), 0, tol.parameters,
                          after_max);
  } else {
    autodidact::io::load_hf_parameters<C>(f, layout, naming, model.parameters(), "param.");
    std::vector<T> grads(Model::plan::parameter_elements, T(0));
    autodidact::io::load_hf_parameters<C>(f, layout, naming, std::span<T>(grads), "grad.");
    std::copy(grads.begin() + static_cast<std::ptrdiff_t>(Model::plan::first_trainable), grads.end(),
              model.gradients().begin());
    autodidact::optim::adamw<T> opt(model.gradients().size(), adam);
    opt.step(model.trainable_parameters(), model.gradients());
    compare_parameters<C>(f, layout, naming, "after1.", model.parameters().data(), 0, tol.parameters,
                          after_max);
  }
}

}  // namespace golden
