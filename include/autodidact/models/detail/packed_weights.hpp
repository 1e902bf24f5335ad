#pragma once
// A model's packed weights (pack_weights()): a second copy of every matrix
// the forward pass multiplies by (the table of packed_table.hpp), in the
// layout the GEMM reads (kernels::pack_b), so forward does not re-pack them
// on every call. Bitwise the same results; costs memory the size of those
// matrices. The copy knows whether it is fresh: the model marks it stale on
// any mutable access to its parameters and refreshes it before a forward
// through a non-const model (body.hpp says when).

#include <cstddef>  // for std::size_t

#include "autodidact/config.hpp"                      // for model_config
#include "autodidact/core/arena.hpp"                  // for arena
#include "autodidact/core/threading.hpp"              // for detail::parallel_for
#include "autodidact/kernels/gemm.hpp"                // for pack_b
#include "autodidact/models/detail/packed_table.hpp"  // for make_packed_table, packed_entry
#include "autodidact/models/memory_plan.hpp"          // for memory_plan, training_policy
#include "autodidact/precision.hpp"                   // for precision_policy

namespace autodidact::models::detail {

template <model_config C, precision_policy P, training_policy Policy>
class packed_weights {
 public:
  using T = typename P::compute_type;
  using plan = memory_plan<C, P, Policy>;

  // Which matrices are packed, and where (packed_table.hpp).
  static constexpr auto table() { return make_packed_table<C, Policy, plan, T>(); }

  // Allocates the copy on first use, then packs every matrix of the
  // parameter arena `params`.
  void enable(const T* params) {
    if (!enabled_) {
      packed_ = arena<T>(table().total, "pack_weights: the packed weight copy");
      enabled_ = true;
    }
    refresh(params);
  }
  bool enabled() const noexcept { return enabled_; }
  bool fresh() const noexcept { return enabled_ && fresh_; }
  void mark_stale() noexcept { fresh_ = false; }
  // Bytes of the copy (0 before enable()).
  std::size_t bytes() const noexcept { return enabled_ ? packed_.size() * sizeof(T) : 0; }

  // Packs every matrix of `params` again.
  void refresh(const T* params) {
    constexpr auto t = table();
    autodidact::detail::parallel_for(0, t.count, true, [&](int i) {
      const packed_entry& e = t.entries[static_cast<std::size_t>(i)];
      kernels::pack_b(kernels::transpose::yes, e.in, e.out, params + e.weight, e.in, packed_.data() + e.packed);
    });
    fresh_ = true;
  }
  void refresh_if_stale(const T* params) {
    if (enabled_ && !fresh_) refresh(params);
  }

  // The packed copy of the matrix at `weight` (its offset in the parameter
  // arena), or null (not packing, not packed, or out of date: forward then
  // packs on the fly, still correct).
  const T* for_weight(std::size_t weight) const noexcept {
    if (!enabled_ || !fresh_) return nullptr;
    constexpr auto t = table();
    for (int i = 0; i < t.count; ++i)
      if (t.entries[static_cast<std::size_t>(i)].weight == weight)
        return packed_.data() + t.entries[static_cast<std::size_t>(i)].packed;
    return nullptr;
  }

 private:
  arena<T> packed_;
  bool enabled_ = false, fresh_ = false;
};

}  // namespace autodidact::models::detail
