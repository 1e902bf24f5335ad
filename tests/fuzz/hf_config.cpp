// Fuzz harness: a Hugging Face config.json (BERT and GPT-2 families) parsed
// into a model_config, which must then round-trip through our checkpoint
// metadata.
#include <string_view>

#include "autodidact/io/hf_config.hpp"
#include "fuzz.hpp"

namespace fuzz_hf_config {
namespace io = autodidact::io;

inline void init() {}

inline void one_input(std::string_view input) {
  const autodidact::model_config c = io::hf_config_from_string(input, "fuzz/config.json");
  const autodidact::model_config again = io::config_from_metadata(io::config_to_metadata(c), "round trip");
  AUTODIDACT_FUZZ_CHECK(io::config_differences(c, again).empty());
  (void)io::config_declaration(c, "fuzzed");
}
}  // namespace fuzz_hf_config

AUTODIDACT_FUZZ_HARNESS(fuzz_hf_config)
