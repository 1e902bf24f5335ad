// Generation allocates nothing after setup: once a generator (its KV cache
// and buffers) exists, generate() — prefill, decoding, every sampler, stop
// tokens and a streaming callback — makes no heap allocation, on 1 and 2
// OpenMP threads. The counting replacements of operator new and the C
// allocator are tests/support/allocation_counter.hpp (shared with
// tests/models/test_no_allocation.cpp).
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include "../support/allocation_counter.hpp"

namespace inference_generation_no_allocation_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

void set_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

TEST_CASE("generation_no_allocation: the counter sees an allocation", "[alloc]") {
  window w;
  delete new volatile int(3);
  CHECK(w.stop() == 1);
}

template <autodidact::model_config C>
void check_no_allocation() {
  using namespace gen_test;
  auto m = make_model<f32, C>();
  const auto ps = prompts({9, 4, 17});
  const auto views = spans(ps);
  const std::array<std::int32_t, 2> stops{3, 17};
  const std::array<inference::generation_options, 3> runs{{
      {.max_new_tokens = 20},
      {.max_new_tokens = 20,
       .sampling = {.do_sample = true, .temperature = 0.9, .top_k = 30, .top_p = 0.9, .min_p = 0.01,
                    .repetition_penalty = 1.2, .seed = 4},
       .stop_tokens = stops},
      {.max_new_tokens = 25, .sampling = {.do_sample = true, .seed = 5}},
  }};
  for (int threads : {1, 2}) {
    set_threads(threads);
    INFO("on " << threads << " OpenMP thread(s)");
    inference::generator gen(*m, 3, 44, 8);
    long streamed = 0;
    auto on_token = [&streamed](int, std::int32_t) { ++streamed; };
    gen.generate(views, runs[1], on_token);  // warm-up (OpenMP's thread pool)
    window w;
    for (const auto& o : runs) gen.generate(views, o, on_token);
    const long counted = w.stop();
    CHECK(counted == 0);
    INFO("libgomp allocated " << w.gomp() << " times");
    CHECK(w.gomp() == 0);
    CHECK(streamed > 60);
  }
  set_threads(2);
}

TEST_CASE("generation_no_allocation: generate() allocates nothing after setup", "[alloc]") {
  check_no_allocation<gen_test::gpt2_odd>();
}

TEST_CASE("generation_no_allocation: nor when decoding runs as one OpenMP team", "[alloc]") {
  check_no_allocation<gen_test::gpt2_wide>();
}

}  // namespace inference_generation_no_allocation_tests
