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

#include "generation_common.hpp"

#include "../support/allocation_counter.hpp"

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

void use_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

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
  device_generator<C>& gen = the_generator<C>();
  const auto ps = gen_test::prompts({9, 4, 17});
  const auto views = gen_test::spans(ps);
  const std::array<std::int32_t, 2> stops{3, 17};
  const std::array<inference::generation_options, 3> runs{{
      {.max_new_tokens = 20},
      {.max_new_tokens = 20,
       .sampling = {.do_sample = true, .temperature = 0.9, .top_k = 30, .top_p = 0.9, .min_p = 0.01,
                    .repetition_penalty = 1.2, .seed = 4},
       .stop_tokens = stops},
      {.max_new_tokens = 40, .sampling = {.do_sample = true, .seed = 5}},
  }};
  for (int threads : {1, 2}) {
    use_threads(threads);
    INFO("on " << threads << " OpenMP thread(s)");
    long streamed = 0;
    auto on_token = [&streamed](int, std::int32_t) { ++streamed; };
    gen.generate(views, runs[1], on_token);  // warm-up (OpenMP's thread pool)
    streamed = 0;
    window w;
    for (const auto& o : runs) gen.generate(views, o, on_token);
    const long counted = w.stop();
    CHECK(counted == 0);
    INFO("libgomp allocated " << w.gomp() << " times");
    CHECK(w.gomp() == 0);
    CHECK(streamed > 60);
    CHECK(gen.reason(2) != inference::finish_reason::none);
  }
  use_threads(2);
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
