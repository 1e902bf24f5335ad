// gemm and bias_backward against their reference twins, float and double:
// all transpose cases with padded leading dimensions, overwrite and
// accumulate, every epilogue combination (bias x activation x
// pre_activation x residual, residual also in place), sizes around the SIMD
// width, several K slices and column blocks of the packed path. Tolerance: max |C - C_ref| <= tol * sqrt(K + 1) * max |C_ref|,
// tol = 2e-6 (float) / 1e-14 (double); bias_backward 1e-5 / 1e-13.

#include <catch2/catch.hpp>  // for TEMPLATE_TEST_CASE, CHECK, REQUIRE

#include <cmath>    // for std::sqrt
#include <tuple>    // for std::tuple
#include <utility>  // for std::pair
#include <vector>   // for std::vector

#include "autodidact/kernels/gemm.hpp"            // for kernels::gemm, bias_backward
#include "autodidact/kernels/reference/gemm.hpp"  // for kernels::reference::gemm, bias_backward
#include "autodidact/simd/simd.hpp"               // for simd::transpose_block, simd::width
#include "helpers.hpp"                            // for random_vector, relative_error, tol

namespace kernels_gemm_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace k = autodidact::kernels;
namespace ref = autodidact::kernels::reference;
using k::transpose;
using k::write_mode;
using kernels_test::random_vector;
using kernels_test::relative_error;

namespace {

template <class T>
struct gemm_case {
  transpose ta, tb;
  int m, n, k;
  int lda, ldb, ldc;
  std::vector<T> a, b, c0;
  gemm_case(transpose ta_, transpose tb_, int m_, int n_, int k_, unsigned seed)
      : ta(ta_), tb(tb_), m(m_), n(n_), k(k_) {
    const int a_rows = ta == transpose::no ? m : k, a_cols = ta == transpose::no ? k : m;
    const int b_rows = tb == transpose::no ? k : n, b_cols = tb == transpose::no ? n : k;
    lda = a_cols + 3;
    ldb = b_cols + 5;
    ldc = n + 2;
    a = random_vector<T>(std::size_t(a_rows) * lda + 1, seed);
    b = random_vector<T>(std::size_t(b_rows) * ldb + 1, seed + 1);
    c0 = random_vector<T>(std::size_t(m) * ldc + 1, seed + 2);
  }
  double bound() const { return kernels_test::tol<T>(2e-6, 1e-14) * std::sqrt(double(k) + 1); }
};

const std::vector<std::tuple<int, int, int>> shapes = {
    {1, 1, 1},  {1, 7, 9},   {7, 8, 9},    {8, 9, 7},    {9, 37, 8},  {37, 16, 17},
    {5, 33, 384}, {3, 17, 1536}, {64, 64, 64}, {2, 1, 40}, {33, 24, 1}, {4, 0, 3}, {0, 3, 3},
    {37, 1400, 70}};  // the last: several column blocks of the packed GEMM

const transpose both[] = {transpose::no, transpose::yes};

}  // namespace

TEMPLATE_TEST_CASE("kernels: gemm matches the reference in every transpose case", "[kernels][gemm]",
                   float, double) {
  using T = TestType;
  unsigned seed = 10;
  for (transpose ta : both)
    for (transpose tb : both)
      for (auto [m, n, kk] : shapes)
        for (write_mode mode : {write_mode::overwrite, write_mode::accumulate}) {
          gemm_case<T> g(ta, tb, m, n, kk, seed++);
          const T alpha = T(0.75);
          std::vector<T> c = g.c0, cr = g.c0;
          k::gemm(ta, tb, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, c.data(), g.ldc);
          ref::gemm(ta, tb, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, cr.data(), g.ldc);
          INFO("ta=" << int(ta) << " tb=" << int(tb) << " m=" << m << " n=" << n << " k=" << kk
                     << " mode=" << int(mode));
          CHECK(relative_error(c, cr) <= g.bound());
          // Padding between rows (ld > N) is never written.
          bool padding_kept = true;
          for (int i = 0; i < m; ++i)
            for (int j = n; j < g.ldc; ++j)
              padding_kept = padding_kept && c[std::size_t(i) * g.ldc + j] == g.c0[std::size_t(i) * g.ldc + j];
          CHECK(padding_kept);
        }
}

TEMPLATE_TEST_CASE("kernels: gemm epilogue combinations match the reference", "[kernels][gemm]",
                   float, double) {
  using T = TestType;
  const k::activation acts[] = {k::activation::none, k::activation::gelu_erf, k::activation::gelu_tanh};
  unsigned seed = 500;
  for (auto [ta, tb] : {std::pair{transpose::no, transpose::yes}, std::pair{transpose::no, transpose::no},
                        std::pair{transpose::yes, transpose::no}})
    // K = 800: several K slices (raw partial sums, epilogue on the last).
    for (auto [m, n, kk] : {std::tuple{7, 37, 9}, std::tuple{9, 8, 33}, std::tuple{2, 19, 0}, std::tuple{11, 53, 800}})
      for (int with_bias = 0; with_bias < 2; ++with_bias)
        for (k::activation act : acts)
          for (int with_pre = 0; with_pre < 2; ++with_pre)
            for (int residual = 0; residual < 3; ++residual) {  // none, separate, in place (C itself)
              gemm_case<T> g(ta, tb, m, n, kk, seed++);
              const auto bias = random_vector<T>(std::size_t(n), seed + 100);
              const int ldr = n + 4;
              const auto res = random_vector<T>(std::size_t(m) * ldr + 1, seed + 200);
              std::vector<T> c = g.c0, cr = g.c0;
              std::vector<T> pre(std::size_t(m) * g.ldc + 1, T(-7)), prer = pre;
              auto make = [&](std::vector<T>& cc, std::vector<T>& pp) {
                k::gemm_epilogue<T> ep;
                ep.bias = with_bias ? bias.data() : nullptr;
                ep.act = act;
                ep.pre_activation = with_pre ? pp.data() : nullptr;
                if (residual == 1) {
                  ep.residual = res.data();
                  ep.ldr = ldr;
                } else if (residual == 2) {
                  ep.residual = cc.data();
                  ep.ldr = g.ldc;
                }
                return ep;
              };
              const T alpha = T(1.25);
              k::gemm(ta, tb, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb,
                      write_mode::overwrite, c.data(), g.ldc, make(c, pre));
              ref::gemm(ta, tb, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb,
                        write_mode::overwrite, cr.data(), g.ldc, make(cr, prer));
              INFO("m=" << m << " n=" << n << " k=" << kk << " bias=" << with_bias << " act="
                        << int(act) << " pre=" << with_pre << " residual=" << residual);
              CHECK(relative_error(c, cr) <= g.bound());
              CHECK(relative_error(pre, prer) <= g.bound());
            }
}

TEMPLATE_TEST_CASE("kernels: gemm_prepacked is bitwise gemm on the unpacked B", "[kernels][gemm]", float,
                   double) {
  using T = TestType;
  unsigned seed = 900;
  // Includes K over several slices (1536), N over several column blocks and
  // a partial last panel, and products big enough to be split over threads.
  const std::vector<std::tuple<int, int, int>> cases = {
      {1, 1, 1}, {7, 37, 9}, {9, 49, 33}, {37, 1400, 70}, {64, 96, 1536}, {128, 1152, 384}, {3, 5, 0}};
  for (transpose ta : both)
    for (transpose tb : both)
      for (auto [m, n, kk] : cases)
        for (write_mode mode : {write_mode::overwrite, write_mode::accumulate}) {
          gemm_case<T> g(ta, tb, m, n, kk, seed++);
          std::vector<T> packed(k::packed_b_elements<T>(kk, n) + 1, T(-1));
          k::pack_b(tb, kk, n, g.b.data(), g.ldb, packed.data());
          CHECK(packed.back() == T(-1));  // nothing written past packed_b_elements
          const auto bias = random_vector<T>(std::size_t(n), seed + 50);
          k::gemm_epilogue<T> ep;
          if (mode == write_mode::overwrite) {
            ep.bias = bias.data();
            ep.act = k::activation::gelu_erf;
          }
          std::vector<T> c = g.c0, cp = g.c0;
          const T alpha = T(0.5);
          k::gemm(ta, tb, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, c.data(), g.ldc, ep);
          k::gemm_prepacked(ta, m, n, kk, alpha, g.a.data(), g.lda, packed.data(), mode, cp.data(), g.ldc, ep);
          INFO("ta=" << int(ta) << " tb=" << int(tb) << " m=" << m << " n=" << n << " k=" << kk
                     << " mode=" << int(mode));
          CHECK(c == cp);
        }
}

TEMPLATE_TEST_CASE("kernels: the one-row product is bitwise the micro-kernel path", "[kernels][gemm]", float,
                   double) {
  // gemm and gemm_prepacked with M = 1 take the matrix x vector of
  // kernels/gemm/gemv.hpp; each element must come out with the bits of the
  // cache-blocked micro-kernel path, which computes row 0 of the same
  // product with M = 2 (prepacked B, and B unpacked: packed on the fly).
  // Shapes: odd sizes, N not a multiple of NR (a partial last panel), K not
  // a multiple of KC and over several K slices, N over several column
  // blocks and big enough to be split over threads (5000 x 1000); every
  // epilogue step, both modes, every transpose case, alpha != 1.
  using T = TestType;
  constexpr int nr = k::gemm_column_panel<T>;
  unsigned seed = 1700;
  const std::vector<std::pair<int, int>> cases = {{1, 1},      {3, 7},      {nr - 1, 5},   {nr + 1, 33},
                                                  {2 * nr + 5, 385}, {37, 1000}, {130, 1537}, {700, 3072},
                                                  {5000, 1000}};
  for (transpose ta : both)
    for (transpose tb : both)
      for (auto [n, kk] : cases)
        for (int variant = 0; variant < 4; ++variant) {
          if (double(n) * kk > 1e6 && (variant == 1 || variant == 2)) continue;  // the big one: test time
          const write_mode mode = variant == 3 ? write_mode::accumulate : write_mode::overwrite;
          gemm_case<T> g(ta, tb, 2, n, kk, seed++);
          std::vector<T> packed(k::packed_b_elements<T>(kk, n));
          k::pack_b(tb, kk, n, g.b.data(), g.ldb, packed.data());
          const auto bias = random_vector<T>(std::size_t(n), seed + 50);
          const auto residual = random_vector<T>(std::size_t(2 * n), seed + 60);
          std::vector<std::vector<T>> pre(4, std::vector<T>(std::size_t(2) * g.ldc, T(0)));
          auto epilogue = [&](std::vector<T>& pre_activation) {
            k::gemm_epilogue<T> ep;
            if (variant == 1 || variant == 2) {
              ep.bias = bias.data();
              ep.act = variant == 1 ? k::activation::gelu_erf : k::activation::gelu_tanh;
            }
            if (variant == 2) {
              ep.pre_activation = pre_activation.data();
              ep.residual = residual.data();
              ep.ldr = n;
            }
            return ep;
          };
          const T alpha = T(0.625);
          // Row 0 of op(A): with M = 1 the first row (no) or column (yes) of A.
          std::vector<std::vector<T>> c(4, g.c0);
          k::gemm_prepacked(ta, 1, n, kk, alpha, g.a.data(), g.lda, packed.data(), mode, c[0].data(), g.ldc,
                            epilogue(pre[0]));
          k::gemm_prepacked(ta, 2, n, kk, alpha, g.a.data(), g.lda, packed.data(), mode, c[1].data(), g.ldc,
                            epilogue(pre[1]));
          k::gemm(ta, tb, 1, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, c[2].data(), g.ldc,
                  epilogue(pre[2]));
          k::gemm(ta, tb, 2, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, c[3].data(), g.ldc,
                  epilogue(pre[3]));
          INFO("ta=" << int(ta) << " tb=" << int(tb) << " n=" << n << " k=" << kk << " variant=" << variant);
          auto row0 = [&](const std::vector<T>& v) { return std::vector<T>(v.begin(), v.begin() + n); };
          CHECK(row0(c[0]) == row0(c[1]));
          CHECK(row0(c[2]) == row0(c[3]));
          CHECK(row0(c[0]) == row0(c[2]));
          CHECK(row0(pre[0]) == row0(pre[1]));
          CHECK(row0(pre[2]) == row0(pre[3]));
          // Nothing written past row 0's n columns.
          for (int i : {0, 2})
            CHECK(std::vector<T>(c[std::size_t(i)].begin() + n, c[std::size_t(i)].end()) ==
                  std::vector<T>(g.c0.begin() + n, g.c0.end()));
        }
}

TEMPLATE_TEST_CASE("kernels: op(A) = A-transposed gives the same bits at any row stride of A", "[kernels][gemm]",
                   float, double) {
  // Row strides up to 64 KB take the panel-packed-on-the-fly path (the first
  // tile of each row panel stores it packed), longer ones read A directly;
  // both must give the reference's result and the same bits as each other.
  using T = TestType;
  unsigned seed = 1300;
  const std::vector<std::tuple<int, int, int>> cases = {{37, 200, 50}, {64, 96, 500}, {16, 1400, 9}};
  for (auto [m, n, kk] : cases)
    for (write_mode mode : {write_mode::overwrite, write_mode::accumulate}) {
      gemm_case<T> g(transpose::yes, transpose::no, m, n, kk, seed++);
      const int wide_lda = 20000;  // 78 KB (float) / 156 KB (double) per row of A
      std::vector<T> wide(std::size_t(kk) * wide_lda);
      for (int p = 0; p < kk; ++p)
        for (int i = 0; i < m; ++i) wide[std::size_t(p) * wide_lda + i] = g.a[std::size_t(p) * g.lda + i];
      std::vector<T> c = g.c0, cw = g.c0, cr = g.c0;
      const T alpha = T(0.75);
      k::gemm(transpose::yes, transpose::no, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode, c.data(),
              g.ldc);
      k::gemm(transpose::yes, transpose::no, m, n, kk, alpha, wide.data(), wide_lda, g.b.data(), g.ldb, mode,
              cw.data(), g.ldc);
      ref::gemm(transpose::yes, transpose::no, m, n, kk, alpha, g.a.data(), g.lda, g.b.data(), g.ldb, mode,
                cr.data(), g.ldc);
      INFO("m=" << m << " n=" << n << " k=" << kk << " mode=" << int(mode));
      CHECK(c == cw);
      CHECK(relative_error(c, cr) <= g.bound());
    }
}

TEMPLATE_TEST_CASE("kernels: a transposed B is packed exactly (in-register transposes, gathers, padding)",
                   "[kernels][gemm]", float, double) {
  using T = TestType;
  namespace simd = autodidact::simd;
  constexpr int w = simd::width<T>;
  // One block: dst[t * ldd + i] = src[i * lds + t], padded strides.
  const int lds = w + 3, ldd = w + 5;
  const std::vector<T> src = random_vector<T>(std::size_t(w) * lds, 7);
  std::vector<T> dst(std::size_t(w) * ldd, T(-7));
  simd::transpose_block(src.data(), lds, dst.data(), ldd);
  for (int i = 0; i < w; ++i)
    for (int t = 0; t < w; ++t) REQUIRE(dst[std::size_t(t) * ldd + i] == src[std::size_t(i) * lds + t]);
  // gemm_pack_b of op(B) = Wᵀ equals the packing of the explicit transpose
  // (a plain copy): K not a multiple of the block, a partial last panel.
  constexpr int nr = k::detail::gemm_blocking<T>::nr;
  for (const auto& [kc, nc] : {std::pair{3 * w + 5, 2 * nr + w + 3}, std::pair{w, nr}, std::pair{2 * w - 1, 1}}) {
    const int ldw = kc + 3;
    const std::vector<T> wt = random_vector<T>(std::size_t(nc) * ldw, 11);  // W [nc, kc]
    std::vector<T> bt(std::size_t(kc) * nc);                               // Wᵀ [kc, nc]
    for (int p = 0; p < kc; ++p)
      for (int j = 0; j < nc; ++j) bt[std::size_t(p) * nc + j] = wt[std::size_t(j) * ldw + p];
    const std::size_t size = std::size_t((nc + nr - 1) / nr * nr) * kc;
    std::vector<T> from_t(size, T(-1)), from_n(size, T(-2));
    k::detail::gemm_pack_b(transpose::yes, wt.data(), ldw, 0, kc, 0, nc, from_t.data());
    k::detail::gemm_pack_b(transpose::no, bt.data(), nc, 0, kc, 0, nc, from_n.data());
    CAPTURE(kc, nc);
    CHECK(from_t == from_n);
  }
}

TEMPLATE_TEST_CASE("kernels: gemm_prepacked rejects what it cannot do", "[kernels][gemm]", float, double) {
  using T = TestType;
  using E = autodidact::invalid_argument;
  const int m = 4, n = 8, kk = 2000;  // K over several slices
  std::vector<T> a(std::size_t(m) * kk, T(1)), b(std::size_t(n) * kk, T(1)), c(std::size_t(m) * n, T(0));
  std::vector<T> packed(k::packed_b_elements<T>(kk, n));
  k::pack_b(transpose::yes, kk, n, b.data(), kk, packed.data());
  k::gemm_epilogue<T> ep;
  ep.residual = c.data();  // in place: needs the unpacked path
  ep.ldr = n;
  CHECK_THROWS_AS(k::gemm_prepacked(transpose::no, m, n, kk, T(1), a.data(), kk, packed.data(),
                                    write_mode::overwrite, c.data(), n, ep),
                  E);
  CHECK_THROWS_AS(k::gemm_prepacked(transpose::no, m, n, kk, T(1), a.data(), kk, static_cast<const T*>(nullptr),
                                    write_mode::overwrite, c.data(), n),
                  E);
  CHECK_THROWS_AS(k::pack_b(transpose::yes, kk, n, b.data(), kk - 1, packed.data()), E);
}

TEMPLATE_TEST_CASE("kernels: gemm rejects bad arguments", "[kernels][gemm]", float, double) {
  using T = TestType;
  std::vector<T> a(64), b(64), c(64);
  using E = autodidact::invalid_argument;
  CHECK_THROWS_AS(k::gemm(transpose::no, transpose::no, 2, 2, 2, T(1), a.data(), 1, b.data(), 2,
                          write_mode::overwrite, c.data(), 2), E);
  CHECK_THROWS_AS(k::gemm(transpose::no, transpose::no, -1, 2, 2, T(1), a.data(), 2, b.data(), 2,
                          write_mode::overwrite, c.data(), 2), E);
  k::gemm_epilogue<T> ep;
  ep.act = k::activation::gelu_erf;
  CHECK_THROWS_AS(k::gemm(transpose::no, transpose::no, 2, 2, 2, T(1), a.data(), 2, b.data(), 2,
                          write_mode::accumulate, c.data(), 2, ep), E);
  CHECK_THROWS_AS(ref::gemm(transpose::no, transpose::no, 2, 2, 2, T(1), a.data(), 2, b.data(), 2,
                            write_mode::accumulate, c.data(), 2, ep), E);
}

TEMPLATE_TEST_CASE("kernels: bias_backward matches the reference", "[kernels][gemm]", float, double) {
  using T = TestType;
  for (auto [m, n] : {std::pair{1, 1}, std::pair{7, 9}, std::pair{37, 8}, std::pair{130, 384}, std::pair{3, 1536}}) {
    const int ld = n + 3;
    const auto dy = random_vector<T>(std::size_t(m) * ld, unsigned(m * 31 + n));
    auto db = random_vector<T>(std::size_t(n), 7u), dbr = db;
    k::bias_backward(m, n, dy.data(), ld, db.data());
    ref::bias_backward(m, n, dy.data(), ld, dbr.data());
    INFO("m=" << m << " n=" << n);
    CHECK(relative_error(db, dbr) <= kernels_test::tol<T>(1e-5, 1e-13));
  }
}

}  // namespace kernels_gemm_tests
