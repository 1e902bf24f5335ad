// The shuffle buffer's draws are uniform: with a buffer as large as the
// stream, every element lands at every position with probability 1/N. A
// chi-square test over 10^6 shuffles (8 x 10^6 placements) at alpha = 1e-6,
// one shuffle per epoch; the control, a slot chooser biased towards slot 0
// by one percentage point, must fail the same test.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <range/v3/view/iota.hpp>

#include "autodidact/data/shuffle.hpp"

namespace data_stats_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace data = autodidact::data;

namespace {

constexpr std::size_t n = 8;
constexpr std::uint64_t shuffles = 1000000;

// Position counts: counts[element][position].
template <class Chooser, class MakeChooser>
double chi_square(MakeChooser make) {
  std::array<std::array<std::uint64_t, n>, n> counts{};
  for (std::uint64_t e = 0; e < shuffles; ++e) {
    auto s = ranges::views::iota(0, static_cast<int>(n)) | data::views::shuffle<Chooser>(n, make(e));
    std::size_t pos = 0;
    for (int v : s) ++counts[static_cast<std::size_t>(v)][pos++];
  }
  const double expected = static_cast<double>(shuffles) / n;
  double chi2 = 0;
  for (const auto& row : counts)
    for (std::uint64_t c : row)
      chi2 += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return chi2;
}

// The chi-square critical value for `dof` degrees of freedom at alpha = 1e-6
// (Wilson-Hilferty; z = 4.753 is the normal's one-sided 1e-6 quantile).
double critical(double dof) {
  const double a = 2.0 / (9.0 * dof);
  return dof * std::pow(1.0 - a + 4.753 * std::sqrt(a), 3.0);
}

// The control: one draw in a hundred goes to slot 0 whatever the generator says.
struct biased_chooser {
  data::philox_slot_chooser fair;
  std::size_t operator()(std::uint64_t step, std::size_t size) const noexcept {
    if (fair.rng.below(100, fair.epoch, static_cast<std::uint32_t>(step), 0xB1A5u) == 0) return 0;
    return fair(step, size);
  }
};

}  // namespace

TEST_CASE("data_stats: the shuffle buffer places elements uniformly", "[stats]") {
  const double dof = (n - 1) * (n - 1);  // row and column sums are fixed
  const double limit = critical(dof);
  const double fair =
      chi_square<data::philox_slot_chooser>([](std::uint64_t e) { return data::philox_slot_chooser(42, e); });
  const double biased = chi_square<biased_chooser>(
      [](std::uint64_t e) { return biased_chooser{data::philox_slot_chooser(42, e)}; });
  INFO("chi2 fair " << fair << ", biased by 1 point " << biased << ", limit " << limit << " (" << dof
                    << " dof)");
  CHECK(fair < limit);
  CHECK(biased > limit);
}

}  // namespace data_stats_tests
