// Arenas, storages and views: sizes, alignment, bounds and shape errors.
#include <catch2/catch.hpp>

#include <autodidact/core/arena.hpp>
#include <autodidact/core/tensor_view.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace core_arena_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

TEST_CASE("heap arenas are zeroed and 64-byte aligned", "[arena]") {
  arena<float> a(1001);
  REQUIRE(a.size() == 1001);
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % arena_alignment == 0);
  for (float x : a.span()) CHECK(x == 0.0f);
  a.data()[1000] = 3.0f;
  a.zero();
  CHECK(a.data()[1000] == 0.0f);
  arena<double> empty(0);
  CHECK(empty.size() == 0);
}

TEST_CASE("arenas of 4 MiB and more start on a 2 MiB (huge page) boundary", "[arena]") {
  // Below the threshold: a cache line. From it on: a huge page, so the
  // kernel can back the block with transparent huge pages (madvise).
  arena<float> small(huge_page_threshold / sizeof(float) - 1);
  CHECK(reinterpret_cast<std::uintptr_t>(small.data()) % arena_alignment == 0);
  for (int i = 0; i < 3; ++i) {
    arena<float> big(huge_page_threshold / sizeof(float) + std::size_t(i) * 1000 + 1);
    CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % huge_page_bytes == 0);
    CHECK(big.data()[big.size() - 1] == 0.0f);
    big.data()[big.size() - 1] = 1.0f;  // the whole block is ours (ASan checks the bounds)
  }
  arena<double> moved(huge_page_threshold / sizeof(double));
  arena<double> owner = std::move(moved);  // freed with the alignment it was allocated with
  CHECK(reinterpret_cast<std::uintptr_t>(owner.data()) % huge_page_bytes == 0);
}

TEST_CASE("slices are bounds checked with a message naming the range", "[arena]") {
  arena<float> a(100);
  CHECK(a.slice(90, 10).size() == 10);
  CHECK_THROWS_WITH(a.slice(95, 10), Catch::Contains("[95, 105)") && Catch::Contains("100"));
  CHECK_THROWS_AS(a.slice(95, 10), autodidact::invalid_argument);
}

TEST_CASE("borrowed storage checks the caller's size and alignment", "[arena]") {
  alignas(64) static float buffer[256];
  arena<float, borrowed_storage<float>> a(borrowed_storage<float>({buffer, 256}, 200));
  CHECK(a.size() == 200);
  CHECK(a.data() == buffer);
  CHECK_THROWS_WITH(borrowed_storage<float>({buffer, 256}, 300),
                    Catch::Contains("holds 256") && Catch::Contains("needs 300"));
  CHECK_THROWS_WITH(borrowed_storage<float>({buffer + 1, 200}, 100), Catch::Contains("aligned to 64"));
}

TEST_CASE("static storage has a compile-time size and alignment", "[arena]") {
  static static_storage<float, 4096> block;
  static_assert(static_storage<float, 4096>::size() == 4096);
  static_assert(alignof(static_storage<float, 4096>) == arena_alignment);
  arena<float, storage_ref<float>> a(storage_ref<float>{block.data(), block.size()});
  CHECK(a.size() == 4096);
}

TEST_CASE("aligned_count rounds up to a cache line", "[arena]") {
  static_assert(aligned_count<float>(1) == 16);
  static_assert(aligned_count<float>(16) == 16);
  static_assert(aligned_count<float>(17) == 32);
  static_assert(aligned_count<double>(9) == 16);
}

TEST_CASE("tensor views index row-major and check shapes", "[view]") {
  std::vector<float> data(2 * 3 * 4);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  tensor_view<float, 3> v(data.data(), {2, 3, 4});  // [B, T, C]
  CHECK(v.size() == 24);
  CHECK(v(1, 2, 3) == 23.0f);
  CHECK(v(0, 1, 0) == 4.0f);
  CHECK(v[1](0, 1) == 13.0f);
  CHECK_NOTHROW(v.expect_shape({2, 3, 4}, "hidden"));
  CHECK_THROWS_WITH(v.expect_shape({2, 3, 5}, "hidden"), Catch::Contains("hidden") &&
                                                             Catch::Contains("expected shape [2, 3, 5]") &&
                                                             Catch::Contains("got [2, 3, 4]"));
  CHECK_THROWS_AS(v.expect_shape({2, 3, 5}, "hidden"), autodidact::shape_error);
}

}  // namespace core_arena_tests
