// The control: a valid configuration compiles.
#include <autodidact/config.hpp>
#include <autodidact/models/memory_plan.hpp>

constexpr autodidact::model_config config = [] {
  auto c = autodidact::tiny_encoder;

  return c;
}();
using plan = autodidact::models::memory_plan<config, autodidact::f32>;
static_assert(plan::parameter_bytes > 0);
int main() {}
