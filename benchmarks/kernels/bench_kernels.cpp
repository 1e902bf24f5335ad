// Google Benchmark program over the kernels (float) at MiniLM-sized shapes:
// C = 384, F = 1536, H = 12, D = 32, T = 128, V = 30522. Each GEMM case
// reports GFLOP/s as a counter; reference twins run at small shapes for
// scale. Run from the repository root:
//   build/release/benchmarks/kernels/bench_kernels --benchmark_min_time=0.3

#include <benchmark/benchmark.h>  // for benchmark::State, BENCHMARK

#include <cstdint>  // for std::int32_t
#include <random>   // for std::mt19937
#include <vector>   // for std::vector

#include "autodidact/kernels/kernels.hpp"         // for every kernel
#include "autodidact/kernels/reference/gemm.hpp"  // for reference::gemm

namespace k = autodidact::kernels;
using k::transpose;
using k::write_mode;

namespace {

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// args: M, N, K, trans_a, trans_b, reference (0/1)
void bm_gemm(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), kk = int(state.range(2));
  const auto ta = state.range(3) ? transpose::yes : transpose::no;
  const auto tb = state.range(4) ? transpose::yes : transpose::no;
  const bool reference = state.range(5) != 0;
  const int lda = ta == transpose::no ? kk : m, ldb = tb == transpose::no ? n : kk;
  const auto a = random_floats(std::size_t(m) * kk, 1), b = random_floats(std::size_t(n) * kk, 2);
  std::vector<float> c(std::size_t(m) * n);
  for (auto _ : state) {
    if (reference)
      k::reference::gemm(ta, tb, m, n, kk, 1.f, a.data(), lda, b.data(), ldb, write_mode::overwrite, c.data(), n);
    else
      k::gemm(ta, tb, m, n, kk, 1.f, a.data(), lda, b.data(), ldb, write_mode::overwrite, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * kk * double(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void bm_linear_gelu(benchmark::State& state) {  // Y = gelu(X W^T + b), X [T,C], W [F,C]
  const int m = 128, n = 1536, kk = 384;
  const auto x = random_floats(std::size_t(m) * kk, 1), w = random_floats(std::size_t(n) * kk, 2),
             bias = random_floats(n, 3);
  std::vector<float> y(std::size_t(m) * n), pre(y.size());
  k::gemm_epilogue<float> ep{bias.data(), k::activation::gelu_erf, pre.data(), nullptr, 0};
  for (auto _ : state) {
    k::gemm(transpose::no, transpose::yes, m, n, kk, 1.f, x.data(), kk, w.data(), kk, write_mode::overwrite, y.data(), n, ep);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * kk * double(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void bm_softmax(benchmark::State& state) {  // H x [T, T] causal
  const int rows = 12 * 128, cols = 128;
  const auto x = random_floats(std::size_t(rows) * cols, 1);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    for (int h = 0; h < 12; ++h)
      k::softmax_forward(128, cols, 0.17f, x.data() + h * 128 * cols, cols, y.data() + h * 128 * cols, cols,
                         k::softmax_mask{cols, true, 0});
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(x.size()) * 8);
}

void bm_layernorm(benchmark::State& state) {  // [B*T, C]
  const int rows = 8 * 128, c = 384;
  const auto x = random_floats(std::size_t(rows) * c, 1), g = random_floats(c, 2), b = random_floats(c, 3);
  std::vector<float> y(x.size()), mu(rows), rs(rows), dx(x.size()), dg(c), db(c);
  const bool backward = state.range(0) != 0;
  for (auto _ : state) {
    if (backward)
      k::layernorm_backward(rows, c, x.data(), x.data(), g.data(), mu.data(), rs.data(), dx.data(), dg.data(), db.data());
    else
      k::layernorm_forward(rows, c, x.data(), g.data(), b.data(), 1e-12f, y.data(), mu.data(), rs.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(x.size()) * (backward ? 12 : 8));
}

void bm_gelu(benchmark::State& state) {  // [B*T, F]
  const std::ptrdiff_t n = 8 * 128 * 1536;
  const auto x = random_floats(std::size_t(n), 1);
  std::vector<float> y(x.size());
  const auto kind = state.range(0) ? autodidact::gelu_kind::tanh : autodidact::gelu_kind::erf;
  for (auto _ : state) {
    k::gelu_forward(kind, n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}

void bm_cross_entropy(benchmark::State& state) {  // [T, V] forward + backward
  const int rows = 64, v = 30522;
  const auto x = random_floats(std::size_t(rows) * v, 1);
  std::vector<float> d(x.size()), loss(rows);
  std::vector<std::int32_t> t(rows);
  for (int r = 0; r < rows; ++r) t[r] = (r * 977) % v;
  for (auto _ : state) {
    const int count = k::cross_entropy_forward(rows, v, x.data(), v, t.data(), loss.data());
    k::cross_entropy_backward(rows, v, x.data(), v, t.data(), 1.f / float(count), d.data(), v);
    benchmark::DoNotOptimize(d.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(x.size()) * 12);
}

void bm_embedding(benchmark::State& state) {
  const int n = 8 * 128, c = 384, rows = 30522;
  const auto table = random_floats(std::size_t(rows) * c, 1);
  std::vector<float> out(std::size_t(n) * c), dtable(table.size());
  std::vector<std::int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = (i * 7919) % rows;
  for (auto _ : state) {
    k::embedding_forward(n, c, ids.data(), table.data(), rows, out.data(), write_mode::overwrite);
    k::embedding_backward(n, c, ids.data(), out.data(), rows, dtable.data());
    benchmark::DoNotOptimize(dtable.data());
  }
}

void bm_adamw(benchmark::State& state) {  // MiniLM-L6 parameter count, roughly
  const std::ptrdiff_t n = 22'700'000;
  auto p = random_floats(std::size_t(n), 1);
  const auto g = random_floats(std::size_t(n), 2);
  std::vector<float> m(p.size()), v(p.size());
  std::int64_t step = 0;
  for (auto _ : state) {
    k::adamw_update(n, p.data(), g.data(), m.data(), v.data(), k::adamw_options{}, ++step);
    benchmark::DoNotOptimize(k::global_norm(n, g.data()));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 4 * 8);
}

// One head of attention, forward (+ backward with arg 2 = 1): blocked
// (arg 1 = 1) vs materialised P (gemm + softmax + gemm). args: T, blocked, backward; D = 64.
void bm_attention(benchmark::State& state) {
  const int t = int(state.range(0)), d = 64, ld = 3 * d;
  const bool blocked = state.range(1) != 0, backward = state.range(2) != 0;
  const auto qkv = random_floats(std::size_t(t) * ld, 1), dout = random_floats(std::size_t(t) * d, 2);
  std::vector<float> o(std::size_t(t) * d), lse(t), g(std::size_t(t) * ld), p(blocked ? 0 : std::size_t(t) * t),
      dp(p.size());
  const float* q = qkv.data();
  const k::softmax_mask mask{t, true, 0};
  const float scale = 0.125f;
  for (auto _ : state) {
    if (blocked) {
      k::attention_blocked_forward(t, d, scale, q, q + d, q + 2 * d, ld, o.data(), d, lse.data(), mask);
      if (backward)
        k::attention_blocked_backward(t, d, scale, q, q + d, q + 2 * d, ld, o.data(), d, dout.data(), lse.data(),
                                      g.data(), g.data() + d, g.data() + 2 * d, ld, mask);
    } else {
      k::gemm(transpose::no, transpose::yes, t, t, d, 1.f, q, ld, q + d, ld, write_mode::overwrite, p.data(), t);
      k::softmax_forward(t, t, scale, p.data(), t, p.data(), t, mask);
      k::gemm(transpose::no, transpose::no, t, d, t, 1.f, p.data(), t, q + 2 * d, ld, write_mode::overwrite, o.data(), d);
      if (backward) {
        k::gemm(transpose::no, transpose::yes, t, t, d, 1.f, dout.data(), d, q + 2 * d, ld, write_mode::overwrite, dp.data(), t);
        k::gemm(transpose::yes, transpose::no, t, d, t, 1.f, p.data(), t, dout.data(), d, write_mode::overwrite, g.data() + 2 * d, ld);
        k::softmax_backward(t, t, scale, p.data(), t, dp.data(), t, dp.data(), t, mask);
        k::gemm(transpose::no, transpose::no, t, d, t, 1.f, dp.data(), t, q + d, ld, write_mode::overwrite, g.data(), ld);
        k::gemm(transpose::yes, transpose::no, t, d, t, 1.f, dp.data(), t, q, ld, write_mode::overwrite, g.data() + d, ld);
      }
    }
    benchmark::DoNotOptimize(o.data());
    benchmark::DoNotOptimize(g.data());
  }
}

}  // namespace

// Linear layers (no, yes), their backward (no, no) and (yes, no), attention shapes.
BENCHMARK(bm_gemm)->ArgNames({"M", "N", "K", "ta", "tb", "ref"})
    ->Args({1024, 1152, 384, 0, 1, 0})  // fused QKV, B*T = 1024
    ->Args({1024, 1536, 384, 0, 1, 0})  // FFN up
    ->Args({1024, 384, 1536, 0, 0, 0})  // dX += dY W
    ->Args({1536, 384, 1024, 1, 0, 0})  // dW += dY^T X
    ->Args({128, 128, 32, 0, 1, 0})     // S = Q K^T per head
    ->Args({128, 32, 128, 0, 0, 0})     // O = P V per head
    ->Args({1, 1536, 384, 0, 1, 0})     // batch-1 decoding
    ->Args({128, 128, 128, 0, 1, 1})    // reference twin
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_linear_gelu)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_softmax)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_layernorm)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_gelu)->ArgName("tanh")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_cross_entropy)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_embedding)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_adamw)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_attention)->ArgNames({"T", "blocked", "backward"})
    ->ArgsProduct({{128, 512, 2048}, {0, 1}, {0, 1}})->Unit(benchmark::kMicrosecond);
