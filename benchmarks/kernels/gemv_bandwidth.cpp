// gemv_bandwidth: the packed one-row product (batch-1 decoding's matrix x
// vector) against a streaming read of memory, in the same process, so a
// shared host's contention cancels in the ratio.
//
//   gemv_bandwidth [--reps 5] [--stream-mb 512]
//
// For each of GPT-2 small's products (768→2304 qkv, 768→768 proj, 768→3072
// fc, 3072→768 fc out, 768→50257 LM head) it packs as many distinct weight
// copies as a model holds (12 per layer product, 1 LM head; at least enough
// for 256 MB, so every call reads its weights from memory as decoding
// does, never from the last-level cache), times kernels::gemm_prepacked
// with M = 1 over all of them (--reps passes, see block_bytes below) and
// prints its GB/s, the streaming read's GB/s measured just before (the
// loop of compare/generation_compare stream over --stream-mb MB, timed the
// same way) and pct_bw = 100 x their ratio. The last line, "token", runs the
// 49 products of one decode step in model order.
// Threads: OMP_NUM_THREADS; with more than one, each product is split into
// whole column panels as inference/cached_forward.hpp's decode team does.

#include <autodidact/kernels/gemm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;
namespace k = autodidact::kernels;

int int_option(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// A shared host deschedules a process for milliseconds at a time: every
// figure here is the sum over blocks of about 4 MB (timed one by one, well
// under a scheduler slice) of each block's best time over the passes, so a
// pass interrupted by another process loses only the block it was in.
constexpr std::size_t block_bytes = std::size_t(4) << 20;

// The streaming read of generation_compare stream (each thread sums its
// share of a block), timed per block; returns GB/s.
double stream_gbs(const float* a, std::size_t n, int reps, double& sink) {
  const int threads = max_threads();
  const std::size_t bn = block_bytes / sizeof(float), blocks = n / bn;
  std::vector<double> best(blocks, 1e30);
  for (int r = 0; r < reps; ++r) {
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      const float* ab = a + blk * bn;
      const auto t0 = clock_type::now();
      double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total) if (threads > 1)
      {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        const std::size_t b = bn * std::size_t(t) / std::size_t(nt), e = bn * std::size_t(t + 1) / std::size_t(nt);
        float s[16] = {};
        std::size_t i = b;
        for (; i + 16 <= e; i += 16)
#pragma omp simd
          for (int q = 0; q < 16; ++q) s[q] += ab[i + std::size_t(q)];
        for (; i < e; ++i) s[0] += ab[i];
        for (float x : s) total += x;
      }
      best[blk] = std::min(best[blk], std::chrono::duration<double>(clock_type::now() - t0).count());
      sink += total;
    }
  }
  double secs = 0;
  for (double b : best) secs += b;
  return double(blocks * bn) * sizeof(float) / secs / 1e9;
}

struct product {
  const char* name;
  int in, out;
  int copies;
  std::vector<float*> packed;  // into the pool
};

// Columns [j0, j1) (on the panel grid) of y[out] = x[in] W^T on packed W,
// split over the team into whole panels.
void run(const product& p, int j0, int j1, const float* w, const float* x, float* y) {
  const int threads = max_threads();
  constexpr int nr = k::gemm_column_panel<float>;
  const int panels = (j1 - j0 + nr - 1) / nr;
  auto share = [&](int tid, int nt) {
    const int c0 = j0 + panels * tid / nt * nr, c1 = std::min(j1, j0 + panels * (tid + 1) / nt * nr);
    if (c0 < c1)
      k::gemm_prepacked(k::transpose::no, 1, c1 - c0, p.in, 1.0f, x, p.in, w + std::ptrdiff_t(c0) * p.in,
                        k::write_mode::overwrite, y + c0, p.out);
  };
  if (threads <= 1) {
    share(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    share(omp_get_thread_num(), omp_get_num_threads());
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = int_option(argc, argv, "--reps", 5);
  const int stream_mb = int_option(argc, argv, "--stream-mb", 512);
  std::vector<product> products = {{"qkv_768x2304", 768, 2304, 12, {}},
                                   {"proj_768x768", 768, 768, 12, {}},
                                   {"fc_768x3072", 768, 3072, 12, {}},
                                   {"fcout_3072x768", 3072, 768, 12, {}},
                                   {"lmhead_768x50257", 768, 50257, 1, {}}};
  const std::size_t min_set = std::size_t(256) << 20;
  std::size_t pool_elems = 0;
  for (auto& p : products) {
    const std::size_t bytes = k::packed_b_elements<float>(p.in, p.out) * sizeof(float);
    p.copies = std::max<int>(p.copies, int((min_set + bytes - 1) / bytes));
    pool_elems += std::size_t(p.copies) * k::packed_b_elements<float>(p.in, p.out) + 16;
  }
  std::unique_ptr<float[]> pool(new float[pool_elems]);
  {
    // One random-ish W per shape, packed into each copy (values do not
    // change the timing; distinct memory does).
    float* at = pool.get();
    for (auto& p : products) {
      std::vector<float> w(std::size_t(p.in) * std::size_t(p.out));
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-4f;
      for (int c = 0; c < p.copies; ++c) {
        at += (16 - (reinterpret_cast<std::uintptr_t>(at) / sizeof(float)) % 16) % 16;
        k::pack_b(k::transpose::yes, p.in, p.out, w.data(), p.in, at);
        p.packed.push_back(at);
        at += k::packed_b_elements<float>(p.in, p.out);
      }
    }
  }
  std::vector<float> x(3072), y(50304);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) * 0.01f;
  const std::size_t sn = std::size_t(stream_mb) * 1000000 / sizeof(float);
  std::unique_ptr<float[]> sa(new float[sn]);
#pragma omp parallel for schedule(static) num_threads(max_threads())
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(sn); ++i) sa[std::size_t(i)] = float(i & 7);
  double sink = 0;

  auto report = [&](const char* name, double bytes, double secs, double sgbs) {
    const double gbs = bytes / secs / 1e9;
    std::printf("gemv_bandwidth/%s/t%d bytes=%.0f ms=%.3f gbs=%.2f stream_gbs=%.2f pct_bw=%.1f\n", name, max_threads(),
                bytes, secs * 1e3, gbs, sgbs, 100 * gbs / sgbs);
    std::fflush(stdout);
  };
  // The timed calls: every copy of a product in blocks of whole panels of
  // about block_bytes; best[call] is that call's best time over the passes.
  struct call {
    const product* p;
    const float* w;
    int j0, j1;
  };
  auto calls_of = [&](const product& p, const float* w, std::vector<call>& out) {
    constexpr int nr = k::gemm_column_panel<float>;
    const int step = std::max(1, int(block_bytes / (std::size_t(nr) * p.in * sizeof(float)))) * nr;
    for (int j = 0; j < p.out; j += step) out.push_back({&p, w, j, std::min(p.out, j + step)});
  };
  auto time_calls = [&](const std::vector<call>& calls) {
    std::vector<double> best(calls.size(), 1e30);
    for (int r = -1; r < reps; ++r)
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto t0 = clock_type::now();
        run(*calls[i].p, calls[i].j0, calls[i].j1, calls[i].w, x.data(), y.data());
        const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
        if (r >= 0) best[i] = std::min(best[i], secs);
        sink += y[std::size_t(calls[i].j0)];
      }
    double secs = 0;
    for (double b : best) secs += b;
    return secs;
  };
  for (const auto& p : products) {
    const double sgbs = stream_gbs(sa.get(), sn, reps, sink);
    std::vector<call> calls;
    for (float* w : p.packed) calls_of(p, w, calls);
    report(p.name, double(p.copies) * double(k::packed_b_elements<float>(p.in, p.out)) * sizeof(float),
           time_calls(calls), sgbs);
  }
  {
    // One decode step's products in model order: 12 x (qkv, proj, fc,
    // fc out), then the LM head.
    const double sgbs = stream_gbs(sa.get(), sn, reps, sink);
    std::vector<call> calls;
    double bytes = 0;
    for (int l = 0; l < 12; ++l)
      for (int q = 0; q < 5; ++q) {
        if (q == 4 && l < 11) continue;
        const product& p = products[std::size_t(q)];
        calls_of(p, p.packed[std::size_t(l) % p.packed.size()], calls);
        bytes += double(k::packed_b_elements<float>(p.in, p.out)) * sizeof(float);
      }
    report("token", bytes, time_calls(calls), sgbs);
  }
  std::printf("# checksum %.3g\n", sink);
  return 0;
}
