// Example 00: the README's "one screen of code", as a program that runs.
//
// A GPT-style decoder is a type: its sizes are the compile-time config
// my_gpt, so the memory it needs is known before the program runs (the
// static_assert below). Constructing it allocates its arenas once and
// initialises the weights as GPT-2 does (N(0, 0.02), residual projections
// scaled by 1/sqrt(2 L), LayerNorm gains 1, biases 0, seeded). Then each
// step is forward, the causal-LM loss, backward and one AdamW update; a
// step allocates nothing.
//
//   ./00_one_screen            10 steps on batches of 8 x 256 tokens
//   ./00_one_screen --smoke    10 steps on 4 x 32 tokens (CTest runs this)
//
// The program checks its own result: it exits with status 1 when the loss
// is not finite or the last step's loss is not clearly below the first's.

#include <autodidact/models/decoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <cmath>    // for std::isfinite
#include <cstdio>   // for std::printf
#include <cstring>  // for std::strcmp
#include <memory>   // for std::make_unique
#include <vector>   // for std::vector

using namespace autodidact;

constexpr model_config my_gpt{.vocab = 8192, .max_positions = 256, .d_model = 384, .heads = 6,
                              .d_ff = 1536, .layers = 6, .type_vocab = 0, .layer_norm_eps = 1e-5,
                              .gelu = gelu_kind::tanh, .norm = norm_placement::pre,
                              .tied_lm_head = true, .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};
using model_t = models::decoder<my_gpt, f32>;
static_assert(model_t::plan::parameter_bytes < 100'000'000);   // known before running

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const int B = smoke ? 4 : 8, T = smoke ? 32 : 256;

  auto model = std::make_unique<model_t>(/*max_batch=*/B, /*max_seq=*/T);  // arenas and weights, once
  optim::adamw<float> opt(model->gradients().size(), {.lr = 3e-4});
  std::vector<std::int32_t> ids(static_cast<std::size_t>(B * T));  // your tokens here: a repeating pattern
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(i * 7 % 100);

  float first = 0, last = 0;
  for (int step = 1; step <= 10; ++step) {
    model->forward({ids, {}, {}, B, T});
    const float loss = model->clm_loss(ids);  // next-token loss
    model->zero_gradients();
    model->backward();
    opt.step(model->trainable_parameters(), model->gradients(), /*max_norm=*/1.0);
    std::printf("step %2d  loss %.4f\n", step, static_cast<double>(loss));
    if (!std::isfinite(loss)) {
      std::printf("error: the loss is not finite\n");
      return 1;
    }
    if (step == 1) first = loss;
    last = loss;
  }
  // A fresh model starts near ln(8192) = 9.01 and learns the pattern.
  if (!(last < 0.9f * first)) {
    std::printf("error: the loss did not fall: %.4f at step 1, %.4f at step 10\n", static_cast<double>(first),
                static_cast<double>(last));
    return 1;
  }
  std::printf("the loss fell from %.2f to %.2f in 10 steps\n", static_cast<double>(first), static_cast<double>(last));
  return 0;
}
