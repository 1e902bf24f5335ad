// An embedded decoder makes no heap allocation after start-up: a model in
// static storage with its packed weights inside the object
// (static_arenas<1, 1, with_packed_weights>) and a generator whose KV
// cache, decoding workspace and buffers are inside it (static_arenas<B,
// N>), both `static` objects, loaded and set up once; then whole
// generations (prefill in chunks + decoding, greedy and seeded sampling
// with every filter, stop tokens, a streaming callback) on 1 and 2 OpenMP
// threads make no call to operator new or the C allocator (counted by
// tests/support/allocation_counter.hpp, as in
// test_generation_no_allocation.cpp), not even by libgomp.
#include <catch2/catch.hpp>

#include "allocation_checks.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <utility>

namespace inference_generation_static_no_allocation_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

template <model_config C>
using device_model =
    models::decoder<C, f32, inference::generation_policy, models::static_arenas<1, 1, models::with_packed_weights>>;
template <model_config C>
using device_generator = inference::generator<device_model<C>, models::static_arenas<3, 44>, 8>;

// The budget a user would check: a constant.
static_assert(sizeof(device_model<gen_test::gpt2_odd>) + sizeof(device_generator<gen_test::gpt2_odd>) < 4'000'000,
              "the test's device decoder fits in 4 MB");

// Start-up: the static objects, the weights "read" (copied from a model made
// the usual way, as a checkpoint load would), the packed copy made.
template <model_config C>
device_model<C>& the_model() {
  static device_model<C> model(models::init_options{.zeros = true});
  return model;
}
template <model_config C>
device_generator<C>& the_generator() {
  static device_generator<C> gen(std::as_const(the_model<C>()));
  return gen;
}
template <model_config C>
void start_up() {
  const auto source =
      std::make_unique<models::decoder<C, f32, inference::generation_policy>>(1, 1, models::init_options{.seed = 3, .initializer_range = 0.2});
  const auto from = source->parameters();
  std::copy(from.begin(), from.end(), the_model<C>().parameters().begin());
  the_model<C>().pack_weights();
  (void)the_generator<C>();
}

template <model_config C>
void check_static_generation_allocates_nothing() {
  start_up<C>();
  gen_test::check_generations_allocate_nothing(the_generator<C>());
}

TEST_CASE("generation_static_no_allocation: the control, a heap generator's construction, is counted",
          "[alloc][storage]") {
  start_up<gen_test::gpt2_odd>();
  window w;
  inference::generator heap_gen(std::as_const(the_model<gen_test::gpt2_odd>()), 1, 16, 8);
  CHECK(w.stop() >= 6);  // the cache, the workspace and the buffers
}

TEST_CASE("generation_static_no_allocation: a static decoder and generator allocate nothing after start-up",
          "[alloc][storage]") {
  check_static_generation_allocates_nothing<gen_test::gpt2_odd>();
}

TEST_CASE("generation_static_no_allocation: nor on the one-team decoding path (wide blocks)", "[alloc][storage]") {
  check_static_generation_allocates_nothing<gen_test::gpt2_wide>();
}

}  // namespace inference_generation_static_no_allocation_tests
