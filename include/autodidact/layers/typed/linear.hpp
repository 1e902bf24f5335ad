#pragma once
// layers::linear<In, Out, P>: y = x Wᵀ + b as a type, over compile-time
// widths and a precision (layers/linear.hpp's math).
//
//   layers::linear<64, 5> head;                    // owns W [5, 64], b [5] and their gradients
//   head.forward(n, x, y);                         // y [n, 5] = x [n, 64] Wᵀ + b
//   head.backward(n, x, dy, dx);                   // dW, db += ...; dx += dy W (dx may be null)
//
//   arena<float> memory(head_t::parameter_elements), grads(head_t::parameter_elements);
//   head_t bound(memory.span(), grads.span());     // views of the caller's memory
//
// Its table is the module-spec form of a Linear (models/modules.hpp's
// pooler_module and embedding_projection_module declare the same two
// entries): weight [Out, In] (PyTorch's layout, role matrix, packed), bias
// [Out].

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/kernels/common.hpp"          // for gemm_epilogue
#include "autodidact/layers/linear.hpp"           // for linear_params, linear_forward, linear_backward
#include "autodidact/layers/typed/parameters.hpp" // for layer_parameters, plan_parameters, layer_init
#include "autodidact/models/module_spec.hpp"      // for param_spec, param_role
#include "autodidact/precision.hpp"               // for f32, precision_policy

namespace autodidact::layers {

template <int In, int Out, precision_policy P = f32>
class linear : public layer_parameters<typename detail::layer_precision<P>::type, 2> {
  static_assert(In > 0, "autodidact: layers::linear<In, Out> needs In > 0 (the input width must be positive).");
  static_assert(Out > 0, "autodidact: layers::linear<In, Out> needs Out > 0 (the output width must be positive).");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int in_features = In, out_features = Out;

  enum param : std::size_t { weight, bias, count };
  static constexpr std::array<models::param_spec, count> table() {
    return {{{"weight", std::size_t(Out), std::size_t(In), models::param_role::matrix, true},
             {"bias", std::size_t(Out), 0, models::param_role::bias}}};
  }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;

  // Owning (heap arenas, initialised by `init`) or bound to the caller's
  // memory (table()'s layout; empty grads = frozen).
  explicit linear(const layer_init& init = {}) : base(plan, init, "layers::linear") {}
  linear(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::linear") {}

  // The free functions' structs, pointing at this layer's memory.
  linear_params<T> params() const { return {this->param_ptr(weight), this->param_ptr(bias), In, Out}; }
  linear_grads<T> grads() const { return {this->grad_ptr(weight), this->grad_ptr(bias)}; }

  // y[n, Out] = x[n, In] Wᵀ + b (+ the epilogue: activation, residual).
  void forward(int n, const T* x, T* y, kernels::gemm_epilogue<T> epilogue = {}) const {
    linear_forward(params(), n, x, y, epilogue);
  }
  // dW += dyᵀ x, db += Σ dy (unless frozen), dx[n, In] += dy W (unless null).
  void backward(int n, const T* x, const T* dy, T* dx) { linear_backward(params(), grads(), n, x, dy, dx); }

 private:
  using base = layer_parameters<T, 2>;
};

}  // namespace autodidact::layers
