// Generation allocates nothing after setup: once a generator (its KV cache
// and buffers) exists, generate() — prefill, decoding, every sampler, stop
// tokens and a streaming callback — makes no heap allocation, on 1 and 2
// OpenMP threads. The counting replacements of operator new and the C
// allocator are tests/support/allocation_counter.hpp (shared with
// tests/models/test_no_allocation.cpp).
#include <catch2/catch.hpp>

#include "allocation_checks.hpp"

namespace inference_generation_no_allocation_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

TEST_CASE("generation_no_allocation: the counter sees an allocation", "[alloc]") {
  window w;
  delete new volatile int(3);
  CHECK(w.stop() == 1);
}

template <autodidact::model_config C>
void check_no_allocation() {
  auto m = gen_test::make_model<f32, C>();
  inference::generator gen(*m, 3, 44, 8);
  gen_test::check_generations_allocate_nothing(gen);
}

TEST_CASE("generation_no_allocation: generate() allocates nothing after setup", "[alloc]") {
  check_no_allocation<gen_test::gpt2_odd>();
}

TEST_CASE("generation_no_allocation: nor when decoding runs as one OpenMP team", "[alloc]") {
  check_no_allocation<gen_test::gpt2_wide>();
}

}  // namespace inference_generation_no_allocation_tests
