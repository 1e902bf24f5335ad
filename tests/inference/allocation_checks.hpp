#pragma once
// What the two allocation tests of generation run after setup
// (test_generation_no_allocation.cpp: a heap generator;
// test_generation_static_no_allocation.cpp: static storage): a warm-up
// (OpenMP's thread pool), then three whole generations — greedy; seeded
// sampling with every filter and stop tokens; plain sampling up to the
// cache's end — on 1 and 2 OpenMP threads, counting every allocation
// (tests/support/allocation_counter.hpp, which replaces operator new: only
// for programs that count).
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include "../support/allocation_counter.hpp"

#include <array>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gen_test {

inline void set_omp_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

// gen: a generator for 3 sequences of up to 44 positions, set up.
template <class Generator>
void check_generations_allocate_nothing(Generator& gen) {
  const auto ps = prompts({9, 4, 17});
  const auto views = spans(ps);
  const std::array<std::int32_t, 2> stops{3, 17};
  const std::array<autodidact::inference::generation_options, 3> runs{{
      {.max_new_tokens = 20},
      {.max_new_tokens = 20,
       .sampling = {.do_sample = true, .temperature = 0.9, .top_k = 30, .top_p = 0.9, .min_p = 0.01,
                    .repetition_penalty = 1.2, .seed = 4},
       .stop_tokens = stops},
      {.max_new_tokens = 40, .sampling = {.do_sample = true, .seed = 5}},
  }};
  for (int threads : {1, 2}) {
    set_omp_threads(threads);
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
    CHECK(gen.reason(2) != autodidact::inference::finish_reason::none);
  }
  set_omp_threads(2);
}

}  // namespace gen_test
