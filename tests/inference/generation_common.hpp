#pragma once
// Shared by the generation tests: a small GPT-2-shaped config (odd sizes),
// a model with weights large enough that logits are far from uniform, and
// the reference decoding that recomputes the whole prefix every step.
#include <autodidact/inference/generation.hpp>
#include <autodidact/models/decoder.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace gen_test {

using namespace autodidact;

inline constexpr model_config gpt2_odd{.vocab = 101,
                                       .max_positions = 48,
                                       .d_model = 80,
                                       .heads = 5,
                                       .d_ff = 320,
                                       .layers = 3,
                                       .type_vocab = 0,
                                       .layer_norm_eps = 1e-5,
                                       .gelu = gelu_kind::tanh,
                                       .norm = norm_placement::pre,
                                       .tied_lm_head = true,
                                       .pooler = false,
                                       .attention = attention_kind::causal,
                                       .embedding_norm = false,
                                       .final_norm = true};

// Wide enough per block (256 × (4·256 + 2·1024) multiply-adds per token)
// for decoding to run as one OpenMP team (cached_forward.hpp).
inline constexpr model_config gpt2_wide{.vocab = 101,
                                        .max_positions = 48,
                                        .d_model = 256,
                                        .heads = 4,
                                        .d_ff = 1024,
                                        .layers = 2,
                                        .type_vocab = 0,
                                        .layer_norm_eps = 1e-5,
                                        .gelu = gelu_kind::tanh,
                                        .norm = norm_placement::pre,
                                        .tied_lm_head = true,
                                        .pooler = false,
                                        .attention = attention_kind::causal,
                                        .embedding_norm = false,
                                        .final_norm = true};
static_assert(double(gpt2_wide.d_model) * (4 * gpt2_wide.d_model + 2 * gpt2_wide.d_ff) >=
              inference::detail::decode_team_min_work);
static_assert(double(gpt2_odd.d_model) * (4 * gpt2_odd.d_model + 2 * gpt2_odd.d_ff) <
              inference::detail::decode_team_min_work);

template <class P, model_config C = gpt2_odd>
using model_t = models::decoder<C, P>;

// A model with weights N(0, 0.2) (so the argmax is not a coin toss), packed.
template <class P, model_config C = gpt2_odd>
std::unique_ptr<model_t<P, C>> make_model(std::uint64_t seed = 3) {
  auto m = std::make_unique<model_t<P, C>>(1, C.max_positions,
                                           models::init_options{.seed = seed, .initializer_range = 0.2});
  m->pack_weights();
  return m;
}

// Prompts of different lengths with ids in [0, vocab).
inline std::vector<std::vector<std::int32_t>> prompts(std::initializer_list<int> lengths, std::uint32_t salt = 0) {
  std::vector<std::vector<std::int32_t>> out;
  const philox_rng rng(99, rng_stream::user);
  std::uint32_t b = 0;
  for (int n : lengths) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) p[std::size_t(i)] = std::int32_t(rng.below(gpt2_odd.vocab, salt, b, std::uint32_t(i)));
    out.push_back(std::move(p));
    ++b;
  }
  return out;
}

inline std::vector<std::span<const std::int32_t>> spans(const std::vector<std::vector<std::int32_t>>& v) {
  return {v.begin(), v.end()};
}

}  // namespace gen_test
