// Threads sharing one const decoder, each with its own generator (KV cache
// and buffers), generate exactly what the main thread alone generates, and
// the shared model is not written (its parameters are bit-identical after).
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include <cstring>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <vector>

using namespace autodidact;
using namespace gen_test;

TEST_CASE("generation_concurrency: threads share one const model, each with its own cache", "[concurrency]") {
  const auto owned = make_model<f32>();
  const model_t<f32>& model = *owned;  // shared, read only
  const std::vector<float> before(model.parameters().begin(), model.parameters().end());
  const auto ps = prompts({7, 12, 3}, 2);
  auto options = [](int t) {
    return inference::generation_options{
        .max_new_tokens = 16,
        .sampling = {.do_sample = t % 2 == 1, .temperature = 0.9, .top_k = 25, .top_p = 0.95,
                     .repetition_penalty = 1.1, .seed = std::uint64_t(t)}};
  };
  constexpr int threads = 4;
  // Alone first. OpenMP runs on one thread throughout (in the workers, four
  // 2-thread teams spinning on a 2-core machine would only slow the test
  // down; generation_threads checks that the thread count changes nothing).
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
  std::vector<std::vector<std::vector<std::int32_t>>> expected(threads), got(threads);
  auto run = [&](int t, std::vector<std::vector<std::int32_t>>& out) {
    inference::generator gen(model, 3, 40, 5);
    gen.generate(spans(ps), options(t));
    for (int b = 0; b < 3; ++b) out.emplace_back(gen.sequence(b).begin(), gen.sequence(b).end());
  };
  for (int t = 0; t < threads; ++t) run(t, expected[std::size_t(t)]);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
#ifdef _OPENMP
      omp_set_num_threads(1);
#endif
      run(t, got[std::size_t(t)]);
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    INFO("thread " << t);
    CHECK(got[std::size_t(t)] == expected[std::size_t(t)]);
  }
  CHECK(std::memcmp(before.data(), model.parameters().data(), before.size() * sizeof(float)) == 0);
#ifdef _OPENMP
  omp_set_num_threads(2);
#endif
}
