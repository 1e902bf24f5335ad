#pragma once
// Where a model keeps its memory: the storage policy, the last template
// argument of encoder<>, decoder<> and workspace<>. The sizes are the memory
// plan's either way (memory_plan::model_bytes, workspace_bytes); only the
// owner of the bytes differs.
//
//   heap_arenas (the default)   each arena is allocated once, at
//                               construction, and freed with the object:
//                                 encoder<cfg, f32, inference_only> m(max_batch, max_seq);
//   borrowed_arenas             the arenas live in one block of memory the
//                               caller owns (checked for size and alignment)
//                               and keeps alive as long as the object:
//                                 using model = encoder<cfg, f32, inference_only, borrowed_arenas>;
//                                 model m(memory, max_batch, max_seq);   // memory.size() >= model::bytes_for(...)
//   static_arenas<B, T>         the arenas are inside the object, sized at
//                               compile time for batches of up to B
//                               sequences of up to T tokens; sizeof the
//                               object is the byte budget (a constant).
//                               Declare it `static` (or allocate it): it
//                               is Transformer-sized.
//                                 static encoder<cfg, f32, inference_only, static_arenas<1, 128>> m;
//   static_arenas<B, T, with_packed_weights>
//                               the same, plus room inside the object for
//                               the packed copy of the weights
//                               (pack_weights()), sized at compile time.
//
// A model in borrowed or static storage allocates nothing, ever. Its
// packed weight copy (pack_weights(), what makes small-batch inference and
// decoding fast) is inside the object with static_arenas<B, T,
// with_packed_weights>, in a second caller block with borrowed_arenas
// (pack_weights(memory), packed_bytes bytes), and absent otherwise: the
// forward then packs each weight on the fly (bitwise the same results,
// slower).
//
// The same policies size the generation state (inference/kv_cache.hpp,
// cached_forward.hpp, generation.hpp): there static_arenas<B, T> means B
// sequences of up to T positions (the KV cache) or of up to T new rows per
// call (the decoding workspace).

#include <concepts>     // for std::same_as
#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::uintptr_t
#include <span>         // for std::span
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::false_type, std::true_type, std::conditional_t

#include "autodidact/core/arena.hpp"  // for arena, borrowed_storage, arena_alignment
#include "autodidact/core/error.hpp"  // for require, invalid_argument

namespace autodidact::models {

// Owning, on the heap: the default.
struct heap_arenas {};

// In one block of caller memory.
struct borrowed_arenas {};

// The third argument of static_arenas: keep the packed weight copy inside
// the object too.
inline constexpr bool with_packed_weights = true;

// Inside the object, for batches of up to MaxBatch sequences of up to
// MaxSeq tokens (and, with PackedWeights, the packed weight copy).
template <int MaxBatch, int MaxSeq, bool PackedWeights = false>
struct static_arenas {
  static_assert(MaxBatch >= 1, "autodidact: static_arenas<MaxBatch, MaxSeq> needs MaxBatch >= 1.");
  static_assert(MaxSeq >= 1, "autodidact: static_arenas<MaxBatch, MaxSeq> needs MaxSeq >= 1.");
  static constexpr int max_batch = MaxBatch;
  static constexpr int max_seq = MaxSeq;
  static constexpr bool packed_weights = PackedWeights;
};

namespace detail {
template <class S>
struct is_static_arenas : std::false_type {};
template <int B, int T, bool P>
struct is_static_arenas<static_arenas<B, T, P>> : std::true_type {};
}  // namespace detail

template <class S>
inline constexpr bool is_static_arenas_v = detail::is_static_arenas<S>::value;

// One of the three policies above.
template <class S>
concept arena_storage_policy = std::same_as<S, heap_arenas> || std::same_as<S, borrowed_arenas> || is_static_arenas_v<S>;

namespace detail {

// The capacity a storage policy fixes at compile time (0 x 0 unless static).
template <class S>
struct static_extent {
  static constexpr int max_batch = 0, max_seq = 0;
};
template <int B, int N, bool P>
struct static_extent<static_arenas<B, N, P>> {
  static constexpr int max_batch = B, max_seq = N;
};
// Checks run-time sizes against a static_arenas<B, N> capacity.
template <class S>
void check_static_extent(const char* what, const char* seq_name, int max_batch, int max_seq) {
  if constexpr (is_static_arenas_v<S>) {
    require(max_batch <= S::max_batch && max_seq <= S::max_seq, what, " (static_arenas<", S::max_batch, ", ",
            S::max_seq, ">): max_batch x ", seq_name, " = ", max_batch, " x ", max_seq, " exceeds the ",
            S::max_batch, " x ", S::max_seq, " its arenas were sized for");
  } else {
    (void)what, (void)seq_name, (void)max_batch, (void)max_seq;
  }
}
// Checks a caller's block for a borrowed_arenas object: at least `needed`
// bytes (the plan's figure for max_batch x max_seq), starting on an
// arena_alignment boundary. `what` names the object ("encoder", "workspace");
// `seq_name` the second size ("max_seq", "max_length", "max_rows").
inline void check_borrowed_memory(std::span<std::byte> memory, std::size_t needed, const char* what, int max_batch,
                                  int max_seq, const char* seq_name = "max_seq") {
  require(memory.size() >= needed, what, " (borrowed_arenas): the caller's memory holds ", memory.size(),
          " bytes, but max_batch x ", seq_name, " = ", max_batch, " x ", max_seq, " needs ", needed,
          " bytes (bytes_for(", max_batch, ", ", max_seq, "))");
  require(reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment == 0, what,
          " (borrowed_arenas): the caller's memory must start on a ", arena_alignment,
          "-byte boundary (alignas(", arena_alignment, ")), but its address ", static_cast<const void*>(memory.data()),
          " is ", reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment, " bytes past one");
}

// The arena of `count` elements of T at byte `offset` (a multiple of
// arena_alignment) of a checked block.
template <class T>
arena<T, borrowed_storage<T>> borrowed_arena(std::span<std::byte> memory, std::size_t offset, std::size_t count) {
  return arena<T, borrowed_storage<T>>(
      borrowed_storage<T>(std::span<T>(reinterpret_cast<T*>(memory.data() + offset), count), count));
}

// The arena type of up to `StaticCount` elements of T under policy
// Storage: heap_storage, borrowed_storage, or static_storage<T, StaticCount>
// (StaticCount matters only there).
template <class T, class Storage, std::size_t StaticCount>
using policy_arena =
    std::conditional_t<std::same_as<Storage, heap_arenas>, arena<T>,
                       std::conditional_t<std::same_as<Storage, borrowed_arenas>, arena<T, borrowed_storage<T>>,
                                          arena<T, static_storage<T, StaticCount>>>>;

// A policy_arena of `count` zeroed elements: allocated on the heap, or the
// one inside the object (value-initialised, so zero; count <= its
// capacity, checked by the caller). Returned as a prvalue, so a static
// block is built in place, never copied. Not for borrowed_arenas (carve
// the caller's block with borrowed_arena).
template <class Arena>
Arena owned_arena(std::size_t count, std::string_view what) {
  using T = typename Arena::value_type;
  if constexpr (std::same_as<Arena, arena<T>>) {
    return Arena(count, what);
  } else {
    return Arena();
  }
}

}  // namespace detail
}  // namespace autodidact::models
