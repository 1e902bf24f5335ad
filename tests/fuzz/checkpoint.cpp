// Fuzz harness: an autodidact checkpoint (a safetensors file whose
// __metadata__ holds format, format_version, names and the model config),
// loaded into two micro models (a post-LN encoder with pooler, a pre-LN
// decoder with an untied LM head) the way io::load_checkpoint does: config
// check, names, then every tensor's presence, shape, dtype and values.
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "autodidact/io/checkpoint.hpp"
#include "fuzz.hpp"

namespace fuzz_checkpoint {
namespace io = autodidact::io;
using autodidact::model_config;

// A stand-in for a model: what load_checkpoint / save_checkpoint use.
template <model_config C>
struct micro_model {
  static constexpr model_config config = C;
  static constexpr auto layout = autodidact::models::make_parameter_layout<C, float>();
  using value_type = float;
  std::vector<float> params = std::vector<float>(layout.total);
  std::span<float> parameters() { return params; }
  std::span<const float> parameters() const { return params; }
};

inline constexpr model_config micro_encoder{.vocab = 6, .max_positions = 3, .d_model = 2, .heads = 1, .d_ff = 3,
                                            .layers = 1, .type_vocab = 2, .layer_norm_eps = 1e-12,
                                            .gelu = autodidact::gelu_kind::erf,
                                            .norm = autodidact::norm_placement::post, .tied_lm_head = true,
                                            .pooler = true};
inline constexpr model_config micro_decoder{.vocab = 5, .max_positions = 3, .d_model = 2, .heads = 2, .d_ff = 4,
                                            .layers = 1, .type_vocab = 0, .layer_norm_eps = 1e-5,
                                            .gelu = autodidact::gelu_kind::tanh,
                                            .norm = autodidact::norm_placement::pre, .tied_lm_head = false,
                                            .pooler = false, .attention = autodidact::attention_kind::causal, .embedding_norm = false, .final_norm = true};

inline void init() {}

template <class Model>
void load_into(const io::safetensors_file& f) {
  try {
    Model m;
    io::load_checkpoint(f, m);
  } catch (const autodidact::error&) {
  }
}

inline void one_input(std::string_view input) {
  std::vector<std::byte> bytes(input.size());
  if (!input.empty()) std::memcpy(bytes.data(), input.data(), input.size());
  const io::safetensors_file f = io::safetensors_file::from_bytes(std::move(bytes), "fuzz_checkpoint.safetensors");
  const model_config c = io::checkpoint_config(f);
  // the config read back must survive a round trip through the metadata
  const model_config again = io::config_from_metadata(io::config_to_metadata(c), "round trip");
  AUTODIDACT_FUZZ_CHECK(io::config_differences(c, again).empty());
  (void)io::config_declaration(c, "fuzzed");
  load_into<micro_model<micro_encoder>>(f);
  load_into<micro_model<micro_decoder>>(f);
}
}  // namespace fuzz_checkpoint

AUTODIDACT_FUZZ_HARNESS(fuzz_checkpoint)
