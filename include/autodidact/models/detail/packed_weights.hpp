#pragma once
// A model's packed weights (pack_weights()): a second copy of every matrix
// the forward pass multiplies by (the table of packed_table.hpp), in the
// layout the GEMM reads (kernels::pack_b), so forward does not re-pack them
// on every call. Bitwise the same results; costs memory the size of those
// matrices. The copy knows whether it is fresh: the model marks it stale on
// any mutable access to its parameters and refreshes it before a forward
// through a non-const model (body.hpp says when).
//
// Where the copy lives follows the model's storage policy
// (models/storage.hpp): heap_arenas allocates it on first use;
// static_arenas<B, T, with_packed_weights> holds it inside the object
// (sized at compile time from the table); borrowed_arenas packs into a
// caller block of `bytes_needed` bytes; static_arenas without
// with_packed_weights has no room for it.

#include <concepts>  // for std::same_as
#include <cstddef>   // for std::byte, std::size_t
#include <cstdint>   // for std::uintptr_t
#include <span>      // for std::span

#include "autodidact/config.hpp"                      // for model_config
#include "autodidact/core/arena.hpp"                  // for arena, arena_alignment
#include "autodidact/core/error.hpp"                  // for require
#include "autodidact/core/threading.hpp"              // for detail::parallel_for
#include "autodidact/kernels/gemm.hpp"                // for pack_b
#include "autodidact/models/detail/packed_table.hpp"  // for make_packed_table, packed_entry
#include "autodidact/models/memory_plan.hpp"          // for memory_plan, training_policy, aligned_bytes
#include "autodidact/models/storage.hpp"              // for heap_arenas, borrowed_arenas, static_arenas
#include "autodidact/precision.hpp"                   // for precision_policy

namespace autodidact::models::detail {

template <model_config C, precision_policy P, training_policy Policy, class Storage = heap_arenas>
class packed_weights {
 public:
  using T = typename P::compute_type;
  using plan = memory_plan<C, P, Policy>;

  // Which matrices are packed, and where (packed_table.hpp).
  static constexpr auto table() { return make_packed_table<C, Policy, plan, T>(); }
  // Bytes of the copy: what borrowed_arenas' pack_weights(memory) needs.
  static constexpr std::size_t bytes_needed = aligned_bytes(table().total * sizeof(T));
  // Whether this storage policy has room for the copy.
  static constexpr bool has_room = [] {
    if constexpr (is_static_arenas_v<Storage>) return Storage::packed_weights;
    return true;
  }();

  // Allocates the copy on first use (heap_arenas; static_arenas holds it
  // already), then packs every matrix of the parameter arena `params`.
  void enable(const T* params) requires(!std::same_as<Storage, borrowed_arenas>) {
    static_assert(has_room, "autodidact: this storage policy has no room for the packed weights.");
    if (!enabled_) {
      if constexpr (std::same_as<Storage, heap_arenas>)
        packed_ = arena<T>(table().total, "pack_weights: the packed weight copy");
      enabled_ = true;
    }
    refresh(params);
  }
  // borrowed_arenas: the copy in `memory` (bytes_needed bytes from a
  // 64-byte boundary), which the caller keeps alive as long as the model.
  void enable(const T* params, std::span<std::byte> memory) requires std::same_as<Storage, borrowed_arenas> {
    require(memory.size() >= bytes_needed, "pack_weights (borrowed_arenas): the caller's memory holds ",
            memory.size(), " bytes, but the packed weight copy needs ", bytes_needed, " bytes (packed_bytes)");
    require(reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment == 0,
            "pack_weights (borrowed_arenas): the caller's memory must start on a ", arena_alignment,
            "-byte boundary (alignas(", arena_alignment, ")), but its address ",
            static_cast<const void*>(memory.data()), " is ",
            reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment, " bytes past one");
    packed_ = borrowed_arena<T>(memory, 0, table().total);
    enabled_ = true;
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
  // The copy under the storage policy (an empty block when there is no room).
  using copy_arena = policy_arena<T, Storage, has_room ? table().total : 0>;
  copy_arena packed_;
  bool enabled_ = false, fresh_ = false;
};

}  // namespace autodidact::models::detail
