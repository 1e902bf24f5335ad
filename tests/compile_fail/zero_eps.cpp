// Must not compile: check_config rejects this configuration with a sentence.
#include <autodidact/config.hpp>
#include <autodidact/models/memory_plan.hpp>

constexpr autodidact::model_config config = [] {
  auto c = autodidact::tiny_encoder;
  c.layer_norm_eps = 0.0;
  return c;
}();
using plan = autodidact::models::memory_plan<config, autodidact::f32>;
static_assert(plan::parameter_bytes > 0);
int main() {}
