// Times one whole-model case and prints one line the comparison scripts read:
//   case=<name> threads=<n> median_ms=<v> min_ms=<v> reps=<n> gflop=<v> peak_rss_mb=<v> samples_ms=<v,...>
//
//   bench_models <case> [--threads n] [--reps n]
// cases:
//   encoder_b1, encoder_b8   MiniLM-L6 dimensions (6 layers, 384, 12 heads, 1536), seq 128, forward only
//   clm_small                decoder 6 layers, 384, 6 heads, 1536, vocab 8192, batch 8, seq 256:
//                            forward + backward + AdamW
//   clm_gpt2                 GPT-2 small dimensions, batch 4, seq 64: forward + backward + AdamW
//   mlm_small[_sparse]       BERT 4 layers, 256, 4 heads, 1024, vocab 8192, no pooler, batch 8, seq 128:
//   mlm_minilm[_sparse]      MiniLM-L6 dimensions (vocab 30522), no pooler, batch 8, seq 128:
//                            forward + MLM loss + backward + AdamW on a fixed corrupted batch, the
//                            MLM head on the selected rows (ours is always sparse; the _sparse
//                            name only changes the peer). Position i of the batch is selected when
//                            (i * 2654435761 mod 2^32) mod 100 < 15, on both sides.
// Weights are seeded random (speed does not depend on their values).

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace autodidact;

namespace {

constexpr model_config clm_small_config{.vocab = 8192,
                                        .max_positions = 256,
                                        .d_model = 384,
                                        .heads = 6,
                                        .d_ff = 1536,
                                        .layers = 6,
                                        .type_vocab = 0,
                                        .layer_norm_eps = 1e-5,
                                        .gelu = gelu_kind::tanh,
                                        .norm = norm_placement::pre,
                                        .tied_lm_head = true,
                                        .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};

template <class Model>
void fill(Model& m) {
  const philox_rng rng(1, rng_stream::init);
  auto p = m.parameters();
  for (std::size_t i = 0; i < p.size(); ++i)
    p[i] = 0.02f * (rng.uniform(0, static_cast<std::uint32_t>(i)) - 0.5f);
}

std::vector<std::int32_t> token_ids(int n, int vocab) {
  const philox_rng rng(2, rng_stream::user);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    ids[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(
        rng.below(static_cast<std::uint32_t>(vocab), 0, static_cast<std::uint32_t>(i)));
  return ids;
}

// Forward FLOPs of a transformer body over N = B·T tokens (multiply-add = 2).
double body_flops(const model_config& c, double batch, double seq) {
  const double n = batch * seq, d = c.d_model, f = c.d_ff;
  const double per_layer = 2 * n * (d * 3 * d + d * d + 2 * d * f) + 4 * batch * seq * seq * d;
  return per_layer * c.layers;
}

struct result {
  std::vector<double> ms;
  double gflop;
  int tokens = 0;  // tokens per run (B x T)
};

result time_it(int reps, double gflop, const std::function<void()>& run, int tokens = 0) {
  run();  // warm-up
  result r{{}, gflop, tokens};
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    r.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return r;
}

template <model_config C>
result encoder_case(int batch, int reps) {
  using model_t = models::encoder<C, f32, models::inference_only>;
  auto m = std::make_unique<model_t>(batch, 128);
  fill(*m);
  m->pack_weights();  // inference: weights packed once for the GEMM
  const auto ids = token_ids(batch * 128, C.vocab);
  const models::batch_input in{ids, {}, {}, batch, 128};
  return time_it(reps, body_flops(C, batch, 128) / 1e9, [&] { m->forward(in); }, batch * 128);
}

template <model_config C>
result clm_case(int batch, int seq, int reps) {
  using model_t = models::decoder<C, f32>;
  auto m = std::make_unique<model_t>(batch, seq);
  fill(*m);
  optim::adamw<float> opt(m->gradients().size(), {.lr = 1e-4});
  const auto ids = token_ids(batch * seq, C.vocab);
  const models::batch_input in{ids, {}, {}, batch, seq};
  const double fwd = body_flops(C, batch, seq) + 2.0 * batch * seq * C.d_model * C.vocab;
  return time_it(reps, 3 * fwd / 1e9, [&] {
    m->zero_gradients();
    m->forward(in);
    m->clm_loss(ids);
    m->backward();
    opt.step(m->trainable_parameters(), m->gradients());
  }, batch * seq);
}

constexpr model_config mlm_small_config{.vocab = 8192,
                                        .max_positions = 128,
                                        .d_model = 256,
                                        .heads = 4,
                                        .d_ff = 1024,
                                        .layers = 4,
                                        .type_vocab = 2,
                                        .layer_norm_eps = 1e-12,
                                        .gelu = gelu_kind::erf,
                                        .norm = norm_placement::post,
                                        .tied_lm_head = true,
                                        .pooler = false};
constexpr model_config mlm_minilm_config = [] {
  model_config c = minilm_l6;
  c.pooler = false;  // BertForMaskedLM has none
  return c;
}();

// The selected positions (the peer uses the same rule): 15 % of them.
bool selected(std::size_t i) { return (static_cast<std::uint64_t>(i) * 2654435761u % 4294967296u) % 100u < 15u; }

template <model_config C>
result mlm_case(int batch, int seq, int reps) {
  using model_t = models::encoder<C, f32>;
  auto m = std::make_unique<model_t>(batch, seq);
  fill(*m);
  optim::adamw<float> opt(m->gradients().size(), {.lr = 1e-4});
  auto ids = token_ids(batch * seq, C.vocab);
  std::vector<std::int32_t> labels(ids.size(), -100);
  int rows = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!selected(i)) continue;
    labels[i] = ids[i];
    ids[i] = 3;  // [MASK]
    ++rows;
  }
  const models::batch_input in{ids, {}, {}, batch, seq};
  const double head = 2.0 * rows * (double(C.d_model) * C.d_model + double(C.d_model) * C.vocab);
  const double fwd = body_flops(C, batch, seq) + head;
  return time_it(reps, 3 * fwd / 1e9, [&] {
    m->zero_gradients();
    m->forward(in);
    m->pretraining_loss(labels);
    m->backward();
    opt.step(m->trainable_parameters(), m->gradients());
  }, batch * seq);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_models <encoder_b1|encoder_b8|clm_small|clm_gpt2|mlm_small[_sparse]|"
                 "mlm_minilm[_sparse]> [--threads n] [--reps n]\n");
    return 2;
  }
  const std::string name = argv[1];
  int threads = 1, reps = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  }
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  result r;
  if (name == "encoder_b1")
    r = encoder_case<minilm_l6>(1, reps);
  else if (name == "encoder_b8")
    r = encoder_case<minilm_l6>(8, reps);
  else if (name == "clm_small")
    r = clm_case<clm_small_config>(8, 256, reps);
  else if (name == "clm_gpt2")
    r = clm_case<gpt2_small>(4, 64, reps);
  else if (name == "mlm_small" || name == "mlm_small_sparse")
    r = mlm_case<mlm_small_config>(8, 128, reps);
  else if (name == "mlm_minilm" || name == "mlm_minilm_sparse")
    r = mlm_case<mlm_minilm_config>(8, 128, reps);
  else {
    std::fprintf(stderr, "bench_models: unknown case '%s'\n", name.c_str());
    return 2;
  }
  std::sort(r.ms.begin(), r.ms.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::string samples;
  for (const double ms : r.ms) {
    if (!samples.empty()) samples += ',';
    samples += std::to_string(ms);
  }
  std::printf(
      "case=%s threads=%d median_ms=%.3f min_ms=%.3f reps=%d gflop=%.3f tokens=%d peak_rss_mb=%.1f samples_ms=%s\n",
      name.c_str(), threads, r.ms[r.ms.size() / 2], r.ms.front(), reps, r.gflop, r.tokens,
      static_cast<double>(usage.ru_maxrss) / 1024.0, samples.c_str());
  return 0;
}
