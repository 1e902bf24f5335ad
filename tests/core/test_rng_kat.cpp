// Philox4x32-10 known-answer tests (Random123's kat_vectors) and the
// (seed, stream, counter) mapping of autodidact::philox_rng.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>

namespace core_rng_kat_tests {  // tests/CMakeLists.txt: one translation unit per folder

using autodidact::philox_rng;
using autodidact::rng_stream;

TEST_CASE("philox4x32-10 matches Random123's known-answer vectors", "[rng]") {
  using B = philox_rng::block;
  CHECK(philox_rng::philox4x32_10({0, 0, 0, 0}, {0, 0}) == B{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(
      philox_rng::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
      B{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(
      philox_rng::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
      B{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("philox_rng maps (seed, stream, step, index) onto key and counter", "[rng]") {
  const philox_rng rng(0x299f31d0a4093822ull, 0x03707344u);
  CHECK(rng(0x13198a2e, 0x243f6a88, 0x85a308d3) ==
        philox_rng::block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("draws are pure functions of the counter", "[rng]") {
  const philox_rng a(42, rng_stream::masking), b(42, rng_stream::masking), c(42, rng_stream::dropout),
      d(43, rng_stream::masking);
  for (std::uint32_t i = 0; i < 100; ++i) {
    CHECK(a(7, i) == b(7, i));
    CHECK(a(7, i) != c(7, i));
    CHECK(a(7, i) != d(7, i));
    CHECK(a(7, i) != a(8, i));
  }
  const float u = a.uniform(1, 2);
  CHECK(u >= 0.0f);
  CHECK(u < 1.0f);
  CHECK(philox_rng::to_unit_float(0xffffffffu) < 1.0f);
  CHECK(philox_rng::to_unit_float(0u) == 0.0f);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    CHECK(a.below(7, 0, i) < 7u);
    const double x = a.uniform_double(0, i);
    CHECK((x >= 0.0 && x < 1.0));
  }
}

}  // namespace core_rng_kat_tests
