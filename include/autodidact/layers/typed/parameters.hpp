#pragma once
// What the typed layers (layers/typed/*.hpp: linear<In, Out, P>,
// layernorm<C, P>, attention<C, Heads, P, K>, feed_forward<C, F, P, G>,
// block<C, Heads, F, P, O>, embedding<V, Positions, C, P, Segments>) share:
//
//   * a parameter plan: the layer's module-spec table
//     (models/module_spec.hpp's param_spec, taken from models/modules.hpp
//     where a model module already declares it) with one offset per
//     parameter, each tensor starting on a 64-byte boundary — the same rule
//     as a model's parameter arena (models/memory_plan.hpp), so a typed layer
//     can view a model block's weights in place;
//   * layer_parameters: the parameters and gradients of one layer, either
//     owned (two heap arenas, the standalone use) or bound (views into
//     memory the caller owns: a subspan of one flat arena shared by several
//     layers, or a model's parameter arena), checked for size and
//     alignment. An empty gradient span means frozen: backward then
//     computes no parameter gradient (the free functions' null pointers);
//   * the initialisation by role (layer_init): matrices and embeddings
//     N(0, range), LayerNorm gains 1, biases 0, a padding row 0 — as the
//     models initialise a BERT (models/detail/body.hpp);
//   * workspace_memory: an activation arena carved into aligned slots.
//
// The math is the free functions' (layers/*.hpp): a typed layer's forward
// and backward only fill their parameter structs and call them, so results
// are bitwise those of the free functions on the same parameters.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t, std::ptrdiff_t
#include <cstdint>      // for std::uint64_t, std::uint32_t, std::uintptr_t
#include <span>         // for std::span
#include <string_view>  // for std::string_view

#include "autodidact/core/arena.hpp"          // for arena, aligned_count, arena_alignment
#include "autodidact/core/error.hpp"          // for require
#include "autodidact/core/rng.hpp"            // for philox_rng, rng_stream
#include "autodidact/models/module_spec.hpp"  // for param_spec, param_role, drawn, npos
#include "autodidact/precision.hpp"           // for precision_policy, plain_precision

namespace autodidact::layers {

// How an owning layer's parameters start (the bound ones keep the caller's).
struct layer_init {
  std::uint64_t seed = 0;  // Philox key: the same seed gives the same weights anywhere
  double range = 0.02;     // standard deviation of matrices and embeddings
  bool zeros = false;      // every parameter 0 (about to be loaded)
};

// A module-spec table with each present parameter's offset (in elements of
// T) in the layer's own arena.
template <class T, std::size_t N>
struct parameter_plan {
  std::array<models::param_spec, N> specs{};
  std::array<std::size_t, N> offsets{};  // models::npos for an absent parameter
  std::size_t elements = 0;              // arena elements, alignment padding included
  std::size_t real_parameters = 0;       // elements without padding
};

// Lays the table out in order, each present tensor on a 64-byte boundary
// (models::make_parameter_layout's rule for a module).
template <class T, std::size_t N>
constexpr parameter_plan<T, N> plan_parameters(const std::array<models::param_spec, N>& specs) {
  parameter_plan<T, N> p{};
  p.specs = specs;
  for (std::size_t i = 0; i < N; ++i) {
    if (!specs[i].present()) {
      p.offsets[i] = models::npos;
      continue;
    }
    p.offsets[i] = p.elements;
    p.elements += aligned_count<T>(specs[i].elements());
    p.real_parameters += specs[i].elements();
  }
  return p;
}

// Entries [First, First + Count) of a module's table: a layer that is a
// part of a model module (attention and feed-forward are parts of
// models::block_module) declares its table as that part.
template <std::size_t First, std::size_t Count, std::size_t N>
constexpr std::array<models::param_spec, Count> table_part(const std::array<models::param_spec, N>& table) {
  static_assert(First + Count <= N, "autodidact: a table part must lie inside the module's table.");
  std::array<models::param_spec, Count> part{};
  for (std::size_t i = 0; i < Count; ++i) part[i] = table[First + i];
  return part;
}

namespace detail {

// The element type of a typed layer of precision P; the one place that
// refuses a precision the layers cannot run.
template <class P>
struct layer_precision {
  static_assert(plain_precision<P>,
                "autodidact: typed layers run in f32 or f64 (storage type = compute type); bf16w and int8w "
                "weights are not supported by layers yet.");
  using type = typename P::compute_type;
};

// Sets the `plan`'s parameters in `data` by role (see layer_init).
template <class T, std::size_t N>
void initialize_parameters(const parameter_plan<T, N>& plan, T* data, const layer_init& init) {
  require(init.range >= 0.0, "layer initialisation: range = ", init.range, " must not be negative");
  for (std::size_t i = 0; i < plan.elements; ++i) data[i] = T(0);
  if (init.zeros) return;
  const philox_rng rng(init.seed, rng_stream::init);
  std::uint32_t tensor = 0;  // the Philox step: one per drawn tensor, in table order
  for (std::size_t i = 0; i < N; ++i) {
    const models::param_spec& spec = plan.specs[i];
    if (!spec.present()) continue;
    T* p = data + plan.offsets[i];
    const std::size_t n = spec.elements();
    if (spec.role == models::param_role::norm_gain)
      for (std::size_t j = 0; j < n; ++j) p[j] = T(1);
    if (!models::drawn(spec.role)) continue;
    const std::uint32_t step = tensor++;
    for (std::size_t j = 0; j < n; j += 2) {
      const auto z = rng.normal2(step, static_cast<std::uint32_t>(j / 2));
      p[j] = static_cast<T>(init.range * z[0]);
      if (j + 1 < n) p[j + 1] = static_cast<T>(init.range * z[1]);
    }
    if (spec.padding_row >= 0)
      for (std::size_t j = 0; j < spec.cols; ++j) p[static_cast<std::size_t>(spec.padding_row) * spec.cols + j] = T(0);
  }
}

inline void require_aligned(const void* p, std::string_view what, std::string_view which) {
  require(reinterpret_cast<std::uintptr_t>(p) % arena_alignment == 0, what, ": the caller's ", which,
          " must start on a ", arena_alignment, "-byte boundary (address ", p,
          "); a subspan of an arena at a multiple of the layer's parameter_elements is");
}

}  // namespace detail

// The parameters and gradients of one layer with N table entries: owned
// (heap arenas) or bound (caller memory). Moving keeps the views valid.
// `plan` is the layer type's static constexpr plan (it is kept by address).
template <class T, std::size_t N>
class layer_parameters {
 public:
  // Owning: parameters and gradients in heap arenas; the parameters set by
  // `init`, the gradients zero.
  layer_parameters(const parameter_plan<T, N>& plan, const layer_init& init, std::string_view what)
      : own_params_(plan.elements, what), own_grads_(plan.elements, what), plan_(&plan),
        params_(own_params_.data()), grads_(own_grads_.data()) {
    initialize(init);
  }
  // Bound: views of the caller's memory (at least plan.elements each,
  // 64-byte aligned), left as they are (initialize() sets them). An empty `grads` freezes the layer.
  layer_parameters(const parameter_plan<T, N>& plan, std::span<T> params, std::span<T> grads, std::string_view what)
      : plan_(&plan), params_(params.data()),
        grads_(grads.empty() ? nullptr : grads.data()) {
    require(params.size() >= plan.elements, what, ": the caller's parameters hold ", params.size(),
            " elements, the layer needs ", plan.elements, " (parameter_elements)");
    detail::require_aligned(params.data(), what, "parameters");
    if (grads_) {
      require(grads.size() >= plan.elements, what, ": the caller's gradients hold ", grads.size(),
              " elements, the layer needs ", plan.elements, " (parameter_elements; an empty span freezes it)");
      detail::require_aligned(grads.data(), what, "gradients");
    }
  }

  // The layer's parameter and gradient memory (the gradients are empty when
  // frozen), in the plan's layout.
  std::span<T> parameters() noexcept { return {params_, plan_->elements}; }
  std::span<const T> parameters() const noexcept { return {params_, plan_->elements}; }
  std::span<T> gradients() noexcept { return {grads_, grads_ ? plan_->elements : 0}; }
  std::span<const T> gradients() const noexcept { return {grads_, grads_ ? plan_->elements : 0}; }
  // Sets the parameters by their roles (layer_init; padding 0).
  void initialize(const layer_init& init) { detail::initialize_parameters(*plan_, params_, init); }
  // Tensor i of the table (empty when absent) and its gradient (empty
  // when absent or frozen).
  std::span<T> parameter(std::size_t i) noexcept { return {param_ptr(i), param_ptr(i) ? size(i) : 0}; }
  std::span<const T> parameter(std::size_t i) const noexcept { return {param_ptr(i), param_ptr(i) ? size(i) : 0}; }
  std::span<T> gradient(std::size_t i) noexcept { return {grad_ptr(i), grad_ptr(i) ? size(i) : 0}; }
  bool owns_memory() const noexcept { return own_params_.data() != nullptr; }
  bool trainable() const noexcept { return grads_ != nullptr; }
  void zero_gradients() noexcept {
    for (std::size_t i = 0; grads_ && i < plan_->elements; ++i) grads_[i] = T(0);
  }

 protected:
  // Parameter i of the table (null when absent), and its gradient (null
  // when absent or frozen).
  T* param_ptr(std::size_t i) const noexcept {
    return plan_->offsets[i] == models::npos ? nullptr : params_ + plan_->offsets[i];
  }
  T* grad_ptr(std::size_t i) const noexcept {
    return grads_ == nullptr || plan_->offsets[i] == models::npos ? nullptr : grads_ + plan_->offsets[i];
  }
  // A sub-layer's views: `count` elements from parameter i on.
  std::span<T> param_span(std::size_t i, std::size_t count) const noexcept {
    return {params_ + plan_->offsets[i], count};
  }
  std::span<T> grad_span(std::size_t i, std::size_t count) const noexcept {
    return grads_ ? std::span<T>(grads_ + plan_->offsets[i], count) : std::span<T>();
  }

 private:
  std::size_t size(std::size_t i) const noexcept { return plan_->specs[i].elements(); }
  arena<T> own_params_, own_grads_;
  const parameter_plan<T, N>* plan_;  // the layer type's static plan
  T* params_;
  T* grads_;
};

// An activation arena cut into aligned slots: a layer's workspace is sized
// once (for its largest batch) and carved with take().
template <class T>
class workspace_memory {
 public:
  workspace_memory() = default;
  T* data() noexcept { return memory_.data(); }
  std::size_t size() const noexcept { return memory_.size(); }

  // A counter of aligned slots: carve(c) calls c.take(count) for each slot.
  struct carver {
    T* base = nullptr;
    std::size_t at = 0;
    T* take(std::size_t count) {
      T* p = base ? base + at : nullptr;
      at += aligned_count<T>(count);
      return p;
    }
  };
  // Runs carve once to size the arena, allocates it, and runs carve again
  // on the memory (so the slots carve assigns point into it).
  template <class Carve>
  void allocate(Carve&& carve, std::string_view what) {
    carver sizing;
    carve(sizing);
    memory_ = arena<T>(sizing.at, what);
    carver slots{memory_.data()};
    carve(slots);
  }

 private:
  arena<T> memory_;
};

}  // namespace autodidact::layers
