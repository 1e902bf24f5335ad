#pragma once
// layers::feed_forward<C, F, P, Gelu>: Linear(C → F), GELU, Linear(F → C)
// as a type (layers/feed_forward.hpp's math).
//
//   layers::feed_forward<64, 256> ff;              // owns W1 [256, 64], W2 [64, 256], biases, gradients
//   layers::feed_forward<64, 256>::workspace w(rows);  // GELU's input and output, backward scratch
//   ff.forward(w, n, x, y);                        // y [n, 64] (+ residual when given)
//   ff.backward(w, n, x, dy, dx);
//
// Its table is part of models::block_module's: ff1.weight [F, C],
// ff1.bias [F], ff2.weight [C, F], ff2.bias [C].

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                   // for gelu_kind, model_config
#include "autodidact/core/error.hpp"               // for require
#include "autodidact/layers/feed_forward.hpp"      // for feed_forward_params, feed_forward_forward, ..._backward
#include "autodidact/layers/typed/parameters.hpp"  // for layer_parameters, plan_parameters, table_part
#include "autodidact/models/modules.hpp"           // for block_module
#include "autodidact/precision.hpp"                // for f32, precision_policy

namespace autodidact::layers {

template <int C, int F, precision_policy P = f32, gelu_kind Gelu = gelu_kind::erf>
class feed_forward : public layer_parameters<typename detail::layer_precision<P>::type, 4> {
  static_assert(C > 0, "autodidact: layers::feed_forward<C, F> needs C > 0 (the width must be positive).");
  static_assert(F > 0, "autodidact: layers::feed_forward<C, F> needs F > 0 (the inner width must be positive).");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int channels = C, inner = F;
  static constexpr gelu_kind gelu = Gelu;

  using module = models::block_module;
  enum param : std::size_t { ff1_weight, ff1_bias, ff2_weight, ff2_bias, count };
  // The same order as the module's entries.
  static_assert(std::size_t(module::ff1_bias) == std::size_t(module::ff1_weight) + ff1_bias &&
                std::size_t(module::ff2_weight) == std::size_t(module::ff1_weight) + ff2_weight &&
                std::size_t(module::ff2_bias) == std::size_t(module::ff1_weight) + ff2_bias);
  static constexpr std::array<models::param_spec, count> table() {
    return table_part<module::ff1_weight, count>(module::parameters(model_config{.d_model = C, .d_ff = F}));
  }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;

  // GELU's input and output [N, F] (saved by forward) and backward's [N, F]
  // scratch, for up to max_rows rows.
  class workspace {
   public:
    explicit workspace(int max_rows) : max_rows_(max_rows) {
      require(max_rows > 0, "layers::feed_forward::workspace: max_rows = ", max_rows, " must be positive");
      memory_.allocate([this](auto& c) { carve(c); }, "layers::feed_forward::workspace");
    }
    int max_rows() const noexcept { return max_rows_; }
    feed_forward_cache<T> cache() const noexcept { return {pre_, act_}; }

   private:
    friend class feed_forward;
    void carve(typename workspace_memory<T>::carver& c) {
      const std::size_t nf = std::size_t(max_rows_) * F;
      pre_ = c.take(nf);
      act_ = c.take(nf);
      dact_ = c.take(nf);
    }
    int max_rows_;
    workspace_memory<T> memory_;
    T *pre_ = nullptr, *act_ = nullptr, *dact_ = nullptr;
  };

  explicit feed_forward(const layer_init& init = {}) : base(plan, init, "layers::feed_forward") {}
  feed_forward(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::feed_forward") {}

  feed_forward_params<T> params() const {
    return {{this->param_ptr(ff1_weight), this->param_ptr(ff1_bias), C, F},
            {this->param_ptr(ff2_weight), this->param_ptr(ff2_bias), F, C},
            Gelu};
  }
  feed_forward_grads<T> grads() const {
    return {{this->grad_ptr(ff1_weight), this->grad_ptr(ff1_bias)}, {this->grad_ptr(ff2_weight), this->grad_ptr(ff2_bias)}};
  }

  // y[n, C] = W2 GELU(W1 x + b1) + b2 (+ residual[n, C] when not null).
  void forward(workspace& w, int n, const T* x, T* y, const T* residual = nullptr) const {
    check_rows(w, n);
    feed_forward_forward(params(), n, x, w.cache(), y, residual);
  }
  // Parameter gradients += ... (unless frozen), dx[n, C] += ... (unless null).
  void backward(workspace& w, int n, const T* x, const T* dy, T* dx) {
    check_rows(w, n);
    feed_forward_backward(params(), grads(), n, x, w.cache(), dy, dx, w.dact_);
  }

 private:
  using base = layer_parameters<T, count>;
  static void check_rows(const workspace& w, int n) {
    require(n >= 0 && n <= w.max_rows(), "layers::feed_forward: ", n, " rows, the workspace holds ",
            w.max_rows());
  }
};

}  // namespace autodidact::layers
