// In-process A/B of a whole MLM training step (forward, loss on the 15 %
// selected rows, backward, AdamW) as benchmarks/models/bench_models runs it
// (mlm_small: BERT 4 x 256, vocab 8192; mlm_minilm: 6 x 384, vocab 30522;
// batch 8 x 128): the working tree's library (namespace autodidact)
// against an older commit's (namespace autodidact_old, a copy made by
// tools/ab_inprocess.sh), one step each in turn, so a shared host's drift
// hits both alike. Prints the median paired ratio new/old and whether the
// two sides' losses agree bit for bit.
//   built and run by: bash tools/ab_inprocess.sh OLD
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>
#include <autodidact_old/models/encoder.hpp>
#include <autodidact_old/optim/adamw.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

bool selected(std::size_t i) { return (static_cast<std::uint64_t>(i) * 2654435761u % 4294967296u) % 100u < 15u; }

// One side: a model, its optimizer and a corrupted batch, as bench_models'
// mlm_case builds them (same initial values and tokens on both sides).
#define AUTODIDACT_AB_SIDE(NS, NAME)                                                                            \
  template <int Vocab, int Width, int Heads, int Layers>                                                       \
  struct NAME {                                                                                                \
    static constexpr NS::model_config config{.vocab = Vocab,                                                   \
                                             .max_positions = 128,                                             \
                                             .d_model = Width,                                                 \
                                             .heads = Heads,                                                   \
                                             .d_ff = 4 * Width,                                                \
                                             .layers = Layers,                                                 \
                                             .type_vocab = 2,                                                  \
                                             .layer_norm_eps = 1e-12,                                          \
                                             .gelu = NS::gelu_kind::erf,                                       \
                                             .norm = NS::norm_placement::post,                                 \
                                             .tied_lm_head = true,                                             \
                                             .pooler = false};                                                 \
    using model_t = NS::models::encoder<config, NS::f32>;                                                      \
    int batch;                                                                                                 \
    std::unique_ptr<model_t> model;                                                                            \
    std::unique_ptr<NS::optim::adamw<float>> opt;                                                              \
    std::vector<std::int32_t> ids, labels;                                                                     \
    explicit NAME(int b) : batch(b), model(std::make_unique<model_t>(b, 128)) {                                \
      const NS::philox_rng init(1, NS::rng_stream::init);                                                      \
      auto p = model->parameters();                                                                            \
      for (std::size_t i = 0; i < p.size(); ++i)                                                               \
        p[i] = 0.02f * (init.uniform(0, static_cast<std::uint32_t>(i)) - 0.5f);                                \
      opt = std::make_unique<NS::optim::adamw<float>>(model->gradients().size(),                               \
                                                      NS::kernels::adamw_options{.lr = 1e-4});                 \
      const NS::philox_rng tokens(2, NS::rng_stream::user);                                                    \
      ids.resize(std::size_t(b) * 128);                                                                        \
      labels.assign(ids.size(), -100);                                                                         \
      for (std::size_t i = 0; i < ids.size(); ++i) {                                                           \
        ids[i] = static_cast<std::int32_t>(tokens.below(Vocab, 0, static_cast<std::uint32_t>(i)));             \
        if (selected(i)) {                                                                                     \
          labels[i] = ids[i];                                                                                  \
          ids[i] = 3;                                                                                          \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
    float step() {                                                                                             \
      const NS::models::batch_input in{ids, {}, {}, batch, 128};                                               \
      model->zero_gradients();                                                                                 \
      model->forward(in);                                                                                      \
      const float loss = model->pretraining_loss(labels);                                                      \
      model->backward();                                                                                       \
      opt->step(model->trainable_parameters(), model->gradients());                                            \
      return loss;                                                                                             \
    }                                                                                                          \
  };

AUTODIDACT_AB_SIDE(autodidact_old, old_side)
AUTODIDACT_AB_SIDE(autodidact, new_side)

template <int Vocab, int Width, int Heads, int Layers>
int run(const char* name, int rounds) {
  old_side<Vocab, Width, Heads, Layers> o(8);
  new_side<Vocab, Width, Heads, Layers> n(8);
  std::vector<double> t_old, t_new, ratio;
  bool same = true;
  float loss = 0;
  auto timed = [](auto& side, float& l) {
    const auto t0 = std::chrono::steady_clock::now();
    l = side.step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
  };
  for (int r = 0; r < rounds + 2; ++r) {  // two warm-up steps each
    float lo = 0, ln = 0;
    const double a = timed(o, lo), b = timed(n, ln);
    same = same && std::memcmp(&lo, &ln, sizeof(float)) == 0;
    loss = ln;
    if (r < 2) continue;
    t_old.push_back(a);
    t_new.push_back(b);
    ratio.push_back(b / a);
  }
  std::sort(t_old.begin(), t_old.end());
  std::sort(t_new.begin(), t_new.end());
  std::sort(ratio.begin(), ratio.end());
  const std::size_t h = ratio.size() / 2;
  std::printf("step_ab: %s old %.1f ms new %.1f ms (medians) ratio %.3f [%.3f..%.3f] losses %s (%.6f after %d steps)\n",
              name, t_old[h], t_new[h], ratio[h], ratio[ratio.size() / 4], ratio[3 * ratio.size() / 4],
              same ? "same bits" : "DIFFERENT", static_cast<double>(loss), rounds + 2);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "mlm_small";
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 30;
  if (which == "mlm_small") return run<8192, 256, 4, 4>("mlm_small", rounds);
  if (which == "mlm_minilm") return run<30522, 384, 12, 6>("mlm_minilm", rounds);
  std::fprintf(stderr, "step_ab: unknown case '%s' (mlm_small, mlm_minilm)\n", which.c_str());
  return 2;
}
