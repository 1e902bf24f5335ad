#pragma once
// layers::linear<In, Out, P, Bias>: y = x Wᵀ + b as a type, over
// compile-time widths and a precision (layers/linear.hpp's math).
//
//   layers::linear<64, 5> head;                    // owns W [5, 64], b [5] and their gradients
//   head.forward(n, x, y);                         // y [n, 5] = x [n, 64] Wᵀ + b
//   head.backward(n, x, dy, dx);                   // dW, db += ...; dx += dy W (dx may be null)
//
//   arena<float> memory(head_t::parameter_elements), grads(head_t::parameter_elements);
//   head_t bound(memory.span(), grads.span());     // views of the caller's memory
//
//   arena<float> packed(head_t::packed_elements);  // Wᵀ in the GEMM's layout, once
//   const auto view = head.pack(packed.span());    // re-pack after W changes
//   head.forward(n, x, y, {}, view);               // bitwise the same y, no packing per call
//
// Its table is the module-spec form of a Linear (models/modules.hpp's
// pooler_module and embedding_projection_module declare the same two
// entries): weight [Out, In] (PyTorch's layout, role matrix, packed), bias
// [Out] — absent with Bias = false (GPT-2's LM head has none), which keeps
// the weight's offset, so a bias-free Linear views a bias-free module.
//
// The models' pooler, factorised embedding projection, MLM dense layer and
// NSP / LM heads are these, bound to the model's arenas
// (models/detail/binding.hpp's linear_at) with the model's packed copies.

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/core/error.hpp"              // for require
#include "autodidact/kernels/common.hpp"          // for gemm_epilogue, transpose
#include "autodidact/kernels/gemm.hpp"            // for packed_b_elements, pack_b
#include "autodidact/layers/linear.hpp"           // for linear_params, linear_forward, linear_backward
#include "autodidact/layers/typed/parameters.hpp" // for layer_parameters, plan_parameters, layer_init
#include "autodidact/models/module_spec.hpp"      // for param_spec, param_role
#include "autodidact/precision.hpp"               // for f32, precision_policy

namespace autodidact::layers {

// The packed copy of a Linear's weight (kernels::pack_b's layout of Wᵀ,
// linear_params::weight_packed), or null: forward then packs on the fly,
// with bitwise the same result (packing only copies). Backward always
// reads the weight itself.
template <class T>
struct linear_packed {
  const T* weight = nullptr;  // packed_elements, matching the weight
};

template <int In, int Out, precision_policy P = f32, bool Bias = true>
class linear : public layer_parameters<typename detail::layer_precision<P>::type, 2> {
  static_assert(In > 0, "autodidact: layers::linear<In, Out> needs In > 0 (the input width must be positive).");
  static_assert(Out > 0, "autodidact: layers::linear<In, Out> needs Out > 0 (the output width must be positive).");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int in_features = In, out_features = Out;
  static constexpr bool has_bias = Bias;

  enum param : std::size_t { weight, bias, count };
  static constexpr std::array<models::param_spec, count> table() {
    return {{{"weight", std::size_t(Out), std::size_t(In), models::param_role::matrix, true},
             {"bias", Bias ? std::size_t(Out) : 0, 0, models::param_role::bias}}};
  }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;
  // Elements of the packed copy of W (pack()): Wᵀ [In, Out] with Out
  // rounded up to the GEMM's panel width, so it depends on the build's SIMD
  // width — pack at run time, never store it.
  static constexpr std::size_t packed_elements = kernels::packed_b_elements<T>(In, Out);

  // Owning (heap arenas, initialised by `init`) or bound to the caller's
  // memory (table()'s layout; empty grads = frozen).
  explicit linear(const layer_init& init = {}) : base(plan, init, "layers::linear") {}
  linear(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::linear") {}

  // The free functions' structs, pointing at this layer's memory (the bias
  // is null without one).
  linear_params<T> params() const { return {this->param_ptr(weight), this->param_ptr(bias), In, Out}; }
  // The same, with the packed copy of the weight (forward's GEMM reads it).
  linear_params<T> params(const linear_packed<T>& packed) const {
    linear_params<T> p = params();
    p.weight_packed = packed.weight;
    return p;
  }
  linear_grads<T> grads() const { return {this->grad_ptr(weight), this->grad_ptr(bias)}; }

  // Packs W into `out` (at least packed_elements, an arena's memory) and
  // returns the view forward takes. The copy is of the weights as they are
  // now: pack again after changing them.
  linear_packed<T> pack(std::span<T> out) const {
    require(out.size() >= packed_elements, "layers::linear<", In, ", ", Out, ">::pack: the caller's memory holds ",
            out.size(), " elements, the packed weight needs ", packed_elements, " (packed_elements)");
    kernels::pack_b(kernels::transpose::yes, In, Out, this->param_ptr(weight), In, out.data());
    return {out.data()};
  }

  // y[n, Out] = x[n, In] Wᵀ + b (+ the epilogue: activation, residual),
  // from the packed weight when given.
  void forward(int n, const T* x, T* y, kernels::gemm_epilogue<T> epilogue = {},
               const linear_packed<T>& packed = {}) const {
    linear_forward(params(packed), n, x, y, epilogue);
  }
  // dW += dyᵀ x, db += Σ dy (unless frozen), dx[n, In] += dy W (unless null).
  void backward(int n, const T* x, const T* dy, T* dx) { linear_backward(params(), grads(), n, x, dy, dx); }

 private:
  using base = layer_parameters<T, 2>;
};

}  // namespace autodidact::layers
