#pragma once
// Which matrices a model's pack_weights() keeps a GEMM-ready copy of,
// derived from the modules' tables (models/module_spec.hpp): every matrix
// with `packed` (the heads' only when the policy has pretraining heads),
// then the token embedding when a head multiplies by it (a tied decoder),
// in arena order, each with its offset in the packed arena.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <type_traits>  // for std::remove_cvref_t

#include "autodidact/config.hpp"              // for model_config
#include "autodidact/core/arena.hpp"          // for aligned_count
#include "autodidact/kernels/gemm.hpp"        // for packed_b_elements
#include "autodidact/models/memory_plan.hpp"  // for training_policy, embeddings_module
#include "autodidact/models/module_spec.hpp"  // for param_spec

namespace autodidact::models::detail {

// (offset in the parameter arena, offset in the packed arena, in, out)
struct packed_entry {
  std::size_t weight = 0, packed = 0;
  int in = 0, out = 0;
};

template <std::size_t N>
struct packed_layout {
  std::array<packed_entry, N> entries{};
  int count = 0;
  std::size_t total = 0;
};

template <model_config C, training_policy Policy, class Layout, class Add>
constexpr void walk_packed(const Layout& layout, Add&& add) {
  bool tied = false;
  layout.for_each_parameter([&](const auto& m, std::size_t, const param_spec& spec, std::size_t offset) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    if (M::is_head && !Policy.pretraining_heads) return;
    if (spec.packed) add(offset, static_cast<int>(spec.cols), static_cast<int>(spec.rows));
  });
  layout.for_each_module([&](const auto& m) {
    using M = typename std::remove_cvref_t<decltype(m)>::module;
    if constexpr (requires { M::multiplies_token_embedding(C); })
      tied = tied || (Policy.pretraining_heads && M::multiplies_token_embedding(C));
  });
  if (tied) add(layout.embeddings[embeddings_module::token], C.embedding_width(), C.vocab);
}

template <model_config C, training_policy Policy, class Plan>
constexpr std::size_t count_packed() {
  std::size_t n = 0;
  walk_packed<C, Policy>(Plan::parameters, [&](std::size_t, int, int) { ++n; });
  return n > 0 ? n : 1;
}

// The table of memory plan Plan (of config C, policy Policy) for element
// type T (the packed sizes depend on its GEMM blocking).
template <model_config C, training_policy Policy, class Plan, class T>
constexpr auto make_packed_table() {
  packed_layout<count_packed<C, Policy, Plan>()> t{};
  walk_packed<C, Policy>(Plan::parameters, [&](std::size_t weight, int in, int out) {
    t.entries[static_cast<std::size_t>(t.count++)] = {weight, t.total, in, out};
    t.total += aligned_count<T>(kernels::packed_b_elements<T>(in, out));
  });
  return t;
}

}  // namespace autodidact::models::detail
