// A consumer of the installed (or add_subdirectory'd) library.
#include <autodidact/autodidact.hpp>

#include <cstdio>
#include <xtensor/xarray.hpp>

int main() {
  using namespace autodidact;
  using plan = models::memory_plan<tiny_encoder, f32>;
  static_assert(parameter_count(bert_base) == 109482240);
  arena<float> weights(plan::parameter_elements);
  const philox_rng rng(1, rng_stream::init);
  weights.data()[0] = rng.uniform(0, 0);
  xt::xarray<float> x = {1.0f, 2.0f, 3.0f};
  const bool ok = weights.size() == plan::parameter_elements && x(2) == 3.0f;
  std::printf("autodidact %d.%d.%d: %s\n", version_major, version_minor, version_patch,
              ok ? "consumer ok" : "consumer FAILED");
  return ok ? 0 : 1;
}
