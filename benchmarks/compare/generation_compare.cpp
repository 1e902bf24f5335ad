// generation_compare: our side of benchmarks/compare/generation.
//
//   generation_compare export DIR
//       GPT-2 small with random weights (seed 7, HF's init), written as a
//       Hugging Face folder (config.json + model.safetensors) that both
//       sides load, so they decode the same model.
//   generation_compare generate DIR [--prompt 32] [--tokens 128] [--reps 3]
//       batch-1 greedy generation of --tokens tokens after a --prompt-token
//       prompt, fp32, packed weights, KV cache; per rep: the time to the
//       first token (prefill) and to the last; prints
//       samples_ms=   decode ms per token of each rep ((last − first) / (tokens − 1))
//       first_ms=     median time to the first token
//       weight_bytes= bytes of weights one decode step reads (the packed matrices
//                     and the tied LM head; biases, LayerNorms and two embedding
//                     rows add < 0.1 %)
//       kv_bytes=     KV-cache bytes a step reads, averaged over the decode steps
//       best_step_ms= the fastest single decode step of all reps: on a shared
//                     host, where a rep's mean includes time descheduled,
//                     the figure to hold against a block-timed stream
//                     (benchmarks/kernels/gemv_bandwidth)
//       tokens=       the generated ids (the script compares them with the peer's)
//   generation_compare stream [--mb 1024] [--reps 5]
//       streaming-read bandwidth: each OpenMP thread sums its share of a
//       --mb MB float array; prints the best gbs= of --reps passes.
// Threads: OMP_NUM_THREADS (the script sets it).

#include <autodidact/inference/generation.hpp>
#include <autodidact/io/checkpoint.hpp>
#include <autodidact/io/hf_export.hpp>
#include <autodidact/models/decoder.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace autodidact;
using clock_type = std::chrono::steady_clock;
using model_t = models::decoder<gpt2_small, f32, inference::generation_policy>;

namespace {

int int_option(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int export_model(const char* dir) {
  auto m = std::make_unique<model_t>(1, 1, models::init_options{.seed = 7});
  io::export_hf(dir, *m);
  return 0;
}

int generate(const char* dir, int prompt_len, int tokens, int reps) {
  auto m = std::make_unique<model_t>(1, 1, models::init_options{.zeros = true});
  io::load_pretrained(dir, *m);
  m->pack_weights();
  const model_t& model = *m;
  inference::generator<model_t> gen(model, 1, prompt_len + tokens);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(prompt_len));
  for (int i = 0; i < prompt_len; ++i) prompt[std::size_t(i)] = (i * 1237 + 11) % gpt2_small.vocab;
  const std::vector<std::span<const std::int32_t>> prompts{prompt};
  const inference::generation_options o{.max_new_tokens = tokens};
  std::vector<double> decode_ms, first_ms;
  double best_step_ms = 1e30;
  for (int r = -1; r < reps; ++r) {  // r = -1: warm-up
    clock_type::time_point first{}, last{};
    int count = 0;
    const auto start = clock_type::now();
    gen.generate(prompts, o, [&](int, std::int32_t) {
      const auto now = clock_type::now();
      if (count > 0 && r >= 0)
        best_step_ms = std::min(best_step_ms, std::chrono::duration<double, std::milli>(now - last).count());
      last = now;
      if (count++ == 0) first = last;
    });
    if (r < 0) continue;
    first_ms.push_back(std::chrono::duration<double, std::milli>(first - start).count());
    decode_ms.push_back(std::chrono::duration<double, std::milli>(last - first).count() / (count - 1));
  }
  // A decode step at cache length n reads 2 · L · n · C floats of K and V;
  // the steps run at n = prompt + 1 .. prompt + tokens − 1.
  const double avg_len = prompt_len + tokens / 2.0;
  const double kv_bytes = 2.0 * gpt2_small.layers * avg_len * gpt2_small.d_model * sizeof(float);
  std::printf("samples_ms=");
  for (std::size_t i = 0; i < decode_ms.size(); ++i) std::printf("%s%.3f", i ? "," : "", decode_ms[i]);
  std::printf(" best_step_ms=%.3f", best_step_ms);
  std::printf(" first_ms=%.3f weight_bytes=%zu kv_bytes=%.0f cache_mb=%.1f workspace_mb=%.1f tokens=", median(first_ms),
              model.packed_weight_bytes(), kv_bytes, gen.cache_bytes() / 1e6, gen.workspace_bytes() / 1e6);
  const auto g = gen.generated(0);
  for (std::size_t i = 0; i < g.size(); ++i) std::printf("%s%d", i ? "," : "", g[i]);
  std::printf("\n");
  return 0;
}

int stream(int mb, int reps) {
  const std::size_t n = std::size_t(mb) * 1000000 / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  // First touch by the thread that will read each part.
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); ++i) a[std::size_t(i)] = float(i & 7);
  double best = 0, sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      int t = 0, nt = 1;
#ifdef _OPENMP
      t = omp_get_thread_num();
      nt = omp_get_num_threads();
#endif
      const std::size_t b = n * std::size_t(t) / std::size_t(nt), e = n * std::size_t(t + 1) / std::size_t(nt);
      float s[16] = {};
      std::size_t i = b;
      for (; i + 16 <= e; i += 16)
#pragma omp simd
        for (int k = 0; k < 16; ++k) s[k] += a[i + std::size_t(k)];
      for (; i < e; ++i) s[0] += a[i];
      for (float x : s) total += x;
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    best = std::max(best, double(n) * sizeof(float) / secs / 1e9);
    sink += total;
  }
  std::printf("gbs=%.2f threads=%d mb=%d checksum=%.0f\n", best, threads, mb, sink);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: generation_compare export DIR | generate DIR [...] | stream [...]\n");
    return 2;
  }
  try {
    const std::string mode = argv[1];
    if (mode == "export" && argc >= 3) return export_model(argv[2]);
    if (mode == "generate" && argc >= 3)
      return generate(argv[2], int_option(argc, argv, "--prompt", 32), int_option(argc, argv, "--tokens", 128),
                      int_option(argc, argv, "--reps", 3));
    if (mode == "stream") return stream(int_option(argc, argv, "--mb", 1024), int_option(argc, argv, "--reps", 5));
  } catch (const autodidact::error& e) {
    std::fprintf(stderr, "generation_compare: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "generation_compare: unknown mode %s\n", argv[1]);
  return 2;
}
