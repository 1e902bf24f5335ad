// Example 02: an encoder and a decoder, forward and backward.
//
// autodidact has two model families:
//   encoder<Config, Precision>   BERT: post-LN blocks, segment embeddings,
//                                a pooler, masked-LM and next-sentence heads
//   decoder<Config, Precision>   GPT-2: pre-LN causal blocks, a final
//                                LayerNorm, an LM head tied to the embeddings
// Both are types: their sizes are compile-time, their arenas are allocated
// once when the object is made, and a training step allocates nothing.
// This example builds one of each, prints their memory plans, and takes a
// few AdamW steps on a fixed batch so the loss visibly goes down.
//
//   ./02_models            a few steps at a moderate size
//   ./02_models --smoke    fewer steps (CTest runs this)
//
// The program checks its own result: it exits with status 1 when a loss is
// not finite or when the last step's loss is not clearly below the first's.

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <chrono>   // for timing a step
#include <cmath>    // for std::isfinite
#include <cstdio>
#include <cstring>
#include <memory>
#include <tuple>    // for the result check
#include <vector>

using namespace autodidact;

// A small BERT and a small GPT-2. Changing a number here changes the types.
constexpr model_config small_bert{.vocab = 1000,
                                  .max_positions = 64,
                                  .d_model = 128,
                                  .heads = 4,
                                  .d_ff = 512,
                                  .layers = 2,
                                  .type_vocab = 2,
                                  .layer_norm_eps = 1e-12,
                                  .gelu = gelu_kind::erf,
                                  .norm = norm_placement::post,
                                  .tied_lm_head = true,
                                  .pooler = true};
constexpr model_config small_gpt{.vocab = 1000,
                                 .max_positions = 64,
                                 .d_model = 128,
                                 .heads = 4,
                                 .d_ff = 512,
                                 .layers = 2,
                                 .type_vocab = 0,
                                 .layer_norm_eps = 1e-5,
                                 .gelu = gelu_kind::tanh,
                                 .norm = norm_placement::pre,
                                 .tied_lm_head = true,
                                 .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};

using bert = models::encoder<small_bert, f32>;
using gpt = models::decoder<small_gpt, f32>;

template <class Plan>
void print_plan(const char* name, int batch, int seq) {
  auto mb = [](std::size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
  std::printf("%s: %zu parameters\n", name, Plan::parameters.real_parameters);
  std::printf(
      "  parameters %.2f MB, gradients %.2f MB, AdamW moments %.2f MB, activations (B=%d, T=%d) %.2f MB\n",
      mb(Plan::parameter_bytes), mb(Plan::gradient_bytes), mb(Plan::moment_bytes), batch, seq,
      mb(Plan::activation_bytes(batch, seq)));
}

// Seeded N(0, 0.02) weights, LayerNorm gains 1 (as BERT and GPT-2 initialise).
template <class Model>
void initialise(Model& m) {
  const philox_rng rng(7, rng_stream::init);
  auto p = m.parameters();
  for (std::size_t i = 0; i < p.size(); ++i)
    p[i] = static_cast<float>(0.02 * rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  auto set_ones = [&](std::size_t offset) {
    for (int j = 0; j < Model::config.d_model; ++j) p[offset + static_cast<std::size_t>(j)] = 1.0f;
  };
  // Every LayerNorm gain, as the module tables name them (module_spec.hpp).
  Model::layout.for_each_parameter([&](const auto&, std::size_t, const models::param_spec& spec, std::size_t offset) {
    if (spec.role == models::param_role::norm_gain) set_ones(offset);
  });
}

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const int batch = 4, seq = 32, steps = smoke ? 5 : 20;

  std::printf("example 02: an encoder and a decoder%s\n\n", smoke ? " (smoke run)" : "");
  print_plan<bert::plan>("encoder<small_bert, f32>", batch, seq);
  print_plan<gpt::plan>("decoder<small_gpt, f32>", batch, seq);

  // The models own their arenas; make them on the heap (never the stack).
  auto encoder = std::make_unique<bert>(batch, seq);
  auto decoder = std::make_unique<gpt>(batch, seq);
  initialise(*encoder);
  initialise(*decoder);

  // A fixed batch: token ids from the generator, with padding at the end of
  // the last two sequences (lengths 32, 32, 20, 9).
  const philox_rng rng(11, rng_stream::user);
  std::vector<std::int32_t> ids(batch * seq), lengths{32, 32, 20, 9}, mlm_labels(batch * seq, -100),
      nsp{0, 1, 0, 1};
  for (int i = 0; i < batch * seq; ++i)
    ids[static_cast<std::size_t>(i)] =
        static_cast<std::int32_t>(5 + rng.below(995, 0, static_cast<std::uint32_t>(i)));
  for (int i = 0; i < batch * seq; i += 7)
    mlm_labels[static_cast<std::size_t>(i)] = ids[static_cast<std::size_t>(i)];
  const models::batch_input in{ids, {}, lengths, batch, seq};

  optim::adamw<float> enc_opt(encoder->gradients().size(), {.lr = 1e-3});
  optim::adamw<float> dec_opt(decoder->gradients().size(), {.lr = 1e-3});

  std::printf("\n%5s  %12s  %12s  %10s\n", "step", "BERT loss", "GPT-2 loss", "ms/step");
  float first_bert = 0, first_gpt = 0, last_bert = 0, last_gpt = 0;
  for (int step = 1; step <= steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    // Encoder: forward, masked-LM + next-sentence loss, backward, update.
    encoder->zero_gradients();
    encoder->forward(in);
    const float bert_loss = encoder->pretraining_loss(mlm_labels, nsp);
    encoder->backward();
    enc_opt.step(encoder->trainable_parameters(), encoder->gradients(), /*max_norm=*/1.0);
    // Decoder: forward, causal-LM loss (labels = ids, shifted inside), backward, update.
    decoder->zero_gradients();
    decoder->forward(in);
    const float gpt_loss = decoder->clm_loss(ids);
    decoder->backward();
    dec_opt.step(decoder->trainable_parameters(), decoder->gradients(), 1.0);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%5d  %12.4f  %12.4f  %10.1f\n", step, static_cast<double>(bert_loss),
                static_cast<double>(gpt_loss), ms);
    if (!std::isfinite(bert_loss) || !std::isfinite(gpt_loss)) {
      std::printf("error: a loss is not finite at step %d\n", step);
      return 1;
    }
    if (step == 1) {
      first_bert = bert_loss;
      first_gpt = gpt_loss;
    }
    last_bert = bert_loss;
    last_gpt = gpt_loss;
  }
  std::printf(
      "\nGPT-2 starts near ln(1000) = 6.91, BERT near ln(1000) + ln(2) (its next-sentence loss);\n"
      "both fall as the models memorise the batch.\n");
  // The check this example stands for: training moves the loss down. A
  // fall of less than 2 % over the run means the gradients or the update
  // are broken (zero, wrong sign, or not applied).
  bool ok = true;
  for (auto [name, first, last] : {std::tuple{"BERT", first_bert, last_bert}, std::tuple{"GPT-2", first_gpt, last_gpt}}) {
    if (!(last < 0.98f * first)) {
      std::printf("error: the %s loss did not fall: %.4f at step 1, %.4f at step %d\n", name,
                  static_cast<double>(first), static_cast<double>(last), steps);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}
