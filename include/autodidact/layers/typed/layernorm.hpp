#pragma once
// layers::layernorm<C, P, Eps>: LayerNorm over C channels as a type
// (layers/layernorm.hpp's math).
//
//   layers::layernorm<64> ln;                      // owns γ = 1, β = 0 and their gradients
//   layers::layernorm<64>::workspace w(rows);      // μ, 1/σ per row (+ sinks for a frozen layer)
//   ln.forward(w, n, x, y);
//   ln.backward(w, n, x, dy, dx);                  // dγ, dβ += ...; dx += ...
//
// Its table is models::final_norm_module's (gain [C], bias [C]).

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                   // for model_config
#include "autodidact/core/error.hpp"               // for require
#include "autodidact/layers/layernorm.hpp"         // for layernorm_params, layernorm_forward, layernorm_backward
#include "autodidact/layers/typed/parameters.hpp"  // for layer_parameters, plan_parameters, workspace_memory
#include "autodidact/models/modules.hpp"           // for final_norm_module
#include "autodidact/precision.hpp"                // for f32, precision_policy

namespace autodidact::layers {

// LayerNorm's ε as a template argument. A structural class rather than a
// plain `double` parameter: Clang before 18 rejects floating-point
// non-type template parameters ("not yet supported") but accepts a class
// holding a double, and the implicit constructor keeps the spelling
// `layernorm<64, f32, 1e-12>`.
struct epsilon {
  double value;
  constexpr epsilon(double v) noexcept : value(v) {}  // NOLINT(google-explicit-constructor): implicit on purpose
};

template <int C, precision_policy P = f32, epsilon Eps = 1e-5>
class layernorm : public layer_parameters<typename detail::layer_precision<P>::type, models::final_norm_module::count> {
  static_assert(C > 0, "autodidact: layers::layernorm<C> needs C > 0 (the channel count must be positive).");
  static_assert(Eps.value > 0.0, "autodidact: layers::layernorm's epsilon must be positive.");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int channels = C;
  static constexpr double eps = Eps.value;

  using module = models::final_norm_module;
  enum param : std::size_t { gain = module::gain, bias = module::bias, count = module::count };
  static constexpr std::array<models::param_spec, count> table() {
    return module::parameters(model_config{.d_model = C, .final_norm = true});
  }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;

  // What forward saves for backward: mean and 1/std per row; and the sinks
  // a frozen layer's backward writes its unused dγ, dβ into.
  class workspace {
   public:
    explicit workspace(int max_rows) : max_rows_(max_rows) {
      require(max_rows > 0, "layers::layernorm::workspace: max_rows = ", max_rows, " must be positive");
      memory_.allocate([this](auto& c) { carve(c); }, "layers::layernorm::workspace");
    }
    int max_rows() const noexcept { return max_rows_; }
    layernorm_cache<T> cache() const noexcept { return {mean_, rstd_}; }

   private:
    friend class layernorm;
    void carve(typename workspace_memory<T>::carver& c) {
      mean_ = c.take(std::size_t(max_rows_));
      rstd_ = c.take(std::size_t(max_rows_));
      sink_gain_ = c.take(C);
      sink_bias_ = c.take(C);
    }
    int max_rows_;
    workspace_memory<T> memory_;
    T *mean_ = nullptr, *rstd_ = nullptr, *sink_gain_ = nullptr, *sink_bias_ = nullptr;
  };

  explicit layernorm(const layer_init& init = {}) : base(plan, init, "layers::layernorm") {}
  layernorm(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::layernorm") {}

  layernorm_params<T> params() const { return {this->param_ptr(gain), this->param_ptr(bias), C, static_cast<T>(Eps.value)}; }
  layernorm_grads<T> grads() const { return {this->grad_ptr(gain), this->grad_ptr(bias)}; }

  // y[n, C] = LayerNorm(x[n, C]); saves μ, 1/σ in w.
  void forward(workspace& w, int n, const T* x, T* y) const {
    check_rows(w, n);
    layernorm_forward(params(), n, x, y, w.cache());
  }
  // dγ, dβ += ... (unless frozen), dx[n, C] += ...; x is forward's input.
  void backward(workspace& w, int n, const T* x, const T* dy, T* dx) {
    check_rows(w, n);
    layernorm_backward(params(), grads(), n, x, w.cache(), dy, dx, w.sink_gain_, w.sink_bias_);
  }

  // In the caller's memory (a model's LayerNorms): `cache` holds μ, 1/σ of
  // the n rows (a model workspace's slots); sink_gain, sink_bias [C] take a
  // frozen layer's unused dγ, dβ.
  void forward(const layernorm_cache<T>& cache, int n, const T* x, T* y) const {
    layernorm_forward(params(), n, x, y, cache);
  }
  void backward(const layernorm_cache<T>& cache, int n, const T* x, const T* dy, T* dx, T* sink_gain, T* sink_bias) {
    layernorm_backward(params(), grads(), n, x, cache, dy, dx, sink_gain, sink_bias);
  }

 private:
  using base = layer_parameters<T, count>;
  static void check_rows(const workspace& w, int n) {
    require(n >= 0 && n <= w.max_rows(), "layers::layernorm: ", n, " rows, the workspace holds ", w.max_rows());
  }
};

}  // namespace autodidact::layers
