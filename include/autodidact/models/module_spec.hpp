#pragma once
// The module spec. Every module of a model — the embeddings, a block, the
// final LayerNorm, the pooler and each head (include/autodidact/heads/) —
// declares its parameters once, in one constexpr table:
//
//   struct pooler_module {
//     enum param : std::size_t { weight, bias, count };        // table indices
//     static constexpr std::array<param_spec, count> parameters(const model_config& c) {
//       return {{{"weight", d, d, param_role::matrix, true}, {"bias", d, 0, param_role::bias}}};
//     }
//     static std::string prefix(int) { return "pooler."; }     // our checkpoint names
//     static std::string hf_prefix(hf_family, int);            // Hugging Face's
//     static std::span<const hf_rule> hf_rules(hf_family);      // per-family renames
//   };
//
// Everything else about parameters is derived from these tables
// (models/memory_plan.hpp): arena offsets, the binding of layers to them,
// the packed-weight table, our checkpoint names, Hugging Face's names,
// the initialisation, the frozen prefix and the optimizer's weight-decay
// groups. A parameter's role decides how it is initialised and whether it
// is decayed; `packed` says forward multiplies by it through the GEMM.

#include <array>        // for std::array
#include <cstddef>      // for std::size_t
#include <span>         // for std::span
#include <string>       // for std::string
#include <string_view>  // for std::string_view

#include "autodidact/config.hpp"  // for model_config, norm_placement

namespace autodidact::models {

// What a parameter is.
enum class param_role : unsigned char {
  matrix,           // a Linear weight [out, in]: N(0, range), decayed
  residual_matrix,  // a Linear weight whose output adds into the residual stream:
                    // GPT-2 initialises it N(0, range / sqrt(2 L)), decayed
  embedding,        // a lookup table [rows, C]: N(0, range), decayed
  bias,             // 0, not decayed
  norm_gain,        // a LayerNorm gain: 1, not decayed
  norm_bias,        // a LayerNorm bias: 0, not decayed
};

// Hugging Face's examples decay matrices and embeddings, not biases and
// LayerNorm parameters.
constexpr bool decays(param_role r) noexcept {
  return r == param_role::matrix || r == param_role::residual_matrix || r == param_role::embedding;
}
// Drawn from a normal distribution at initialisation (else a constant).
constexpr bool drawn(param_role r) noexcept { return decays(r); }

// One parameter of a module. A table entry with rows = 0 is absent in this
// config (e.g. the segment embedding when type_vocab = 0): no arena space,
// no name, offset npos.
struct param_spec {
  std::string_view name;  // within the module ("qkv.weight")
  std::size_t rows = 0;   // a vector's length; a matrix's rows (out, as PyTorch's Linear)
  std::size_t cols = 0;   // 0 for a vector; a matrix's columns (in)
  param_role role = param_role::bias;
  bool packed = false;    // forward multiplies by it (x Wᵀ): pack_weights() keeps a packed copy
  int padding_row = -1;   // an embedding row initialised to 0 (BERT's [PAD]); -1: none
  constexpr std::size_t elements() const noexcept { return cols == 0 ? rows : rows * cols; }
  constexpr bool present() const noexcept { return rows > 0; }
};

// The naming families of Hugging Face checkpoints. ELECTRA's body is named
// as BERT's (with "embeddings_project." for the projection of factorised
// embeddings); its heads have their own names.
enum class hf_family { bert, gpt2, electra };

// One Hugging Face tensor made from (part of) a parameter of the module:
// rows [part·rows/parts, (part+1)·rows/parts) of ours (BERT's query, key and
// value fill the fused QKV weight), stored transposed when HF's is [in, out]
// (GPT-2's Conv1D).
struct hf_rule {
  std::size_t param = 0;   // index in the module's table
  std::string_view name;   // after the module's hf_prefix
  int part = 0, parts = 1;
  bool transposed = false;
};

// Which family's conventions (initialisation, names) a config follows:
// bidirectional attention is BERT's, causal GPT-2's (config.hpp).
constexpr hf_family family_of(const model_config& c) noexcept {
  return c.attention == attention_kind::bidirectional ? hf_family::bert : hf_family::gpt2;
}

// What a module type provides.
template <class M>
concept module_spec = requires(const model_config& c, int index, hf_family f) {
  { M::count } -> std::convertible_to<std::size_t>;
  { M::parameters(c) } -> std::same_as<std::array<param_spec, M::count>>;
  { M::prefix(index) } -> std::convertible_to<std::string>;
  { M::hf_prefix(f, index) } -> std::convertible_to<std::string>;
  { M::hf_rules(f) } -> std::convertible_to<std::span<const hf_rule>>;
  { M::is_head } -> std::convertible_to<bool>;
};

// Where one module instance's parameters live: offsets (in elements) into
// the parameter arena, indexed by the module's `param` enum; npos for an
// absent parameter or module.
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);
template <class M>
struct module_offsets {
  using module = M;
  std::array<std::size_t, M::count> at = filled();
  int index = 0;          // the instance (a block's layer), for its names
  bool present = false;   // false: the config has no such module
  std::size_t begin = 0;  // the module's range of the arena (padding included)
  std::size_t end = 0;
  constexpr std::size_t operator[](std::size_t p) const noexcept { return at[p]; }

 private:
  static constexpr std::array<std::size_t, M::count> filled() {
    std::array<std::size_t, M::count> a{};
    for (auto& x : a) x = npos;
    return a;
  }
};

// A list of head modules composed on a body.
template <class... Heads>
struct head_list {
  static constexpr std::size_t size = sizeof...(Heads);
};

}  // namespace autodidact::models
