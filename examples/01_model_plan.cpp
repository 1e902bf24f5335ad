// Example 01: a model is a type.
//
// In autodidact a model's architecture is a compile-time value: a
// `model_config` passed as a template argument. From it the compiler knows
// how many parameters the model has and exactly where each one lives in a
// flat arena, so memory can be sized before the program runs. This example
// declares a small BERT-style model, prints its constexpr parameter count
// and memory plan, and fills its parameter arena with seeded random weights.
//
//   ./01_model_plan            full run
//   ./01_model_plan --smoke    the same (it is quick); CTest passes --smoke

#include <autodidact/autodidact.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace autodidact;

// Step 1: declare the architecture. Every field is a compile-time constant;
// an invalid combination (say 5 heads for 96 channels) stops compilation
// with a sentence naming the rule.
constexpr model_config my_model{.vocab = 8000,         // V
                                .max_positions = 128,  // longest sequence T
                                .d_model = 256,        // C
                                .heads = 4,            // H (D = 64)
                                .d_ff = 1024,          // feed-forward width
                                .layers = 4,           // L
                                .type_vocab = 2,       // sentence A / B
                                .layer_norm_eps = 1e-12,
                                .gelu = gelu_kind::erf,
                                .norm = norm_placement::post,  // BERT: LayerNorm after each residual add
                                .tied_lm_head = true,
                                .pooler = true};

// Step 2: the memory plan of this model in float32, for full training.
using plan = models::memory_plan<my_model, f32>;

// These are compile-time facts: the static_asserts cost nothing at run time.
static_assert(parameter_count(my_model) == 5'306'624, "the body's parameter count");
static_assert(plan::gradient_elements == plan::parameter_elements, "full training: every weight trains");

static double megabytes(std::size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  std::printf("autodidact %d.%d.%d -- example 01: a model is a type%s\n\n", version_major, version_minor,
              version_patch, smoke ? " (smoke run)" : "");

  std::printf("model: V=%d C=%d H=%d F=%d L=%d, max T=%d\n", my_model.vocab, my_model.d_model, my_model.heads,
              my_model.d_ff, my_model.layers, my_model.max_positions);
  std::printf("  body parameters (constexpr):         %zu\n", parameter_count(my_model));
  std::printf("  with pretraining heads (MLM + NSP):  %zu\n", plan::parameters.real_parameters);

  // Step 3: print the memory plan. Batch and sequence length are run-time
  // values, so the activation arena is a constexpr function of them.
  constexpr int batch = 8, seq = 128;
  std::printf("\nmemory plan (float32, full training, batch %d x seq %d):\n", batch, seq);
  std::printf("  parameters   %9.2f MB\n", megabytes(plan::parameter_bytes));
  std::printf("  gradients    %9.2f MB\n", megabytes(plan::gradient_bytes));
  std::printf("  AdamW m, v   %9.2f MB\n", megabytes(plan::moment_bytes));
  std::printf("  activations  %9.2f MB\n", megabytes(plan::activation_bytes(batch, seq)));
  std::printf("  total        %9.2f MB\n", megabytes(plan::total_bytes(batch, seq)));

  // A frozen body (fine-tune only the top layer and heads) needs far less.
  using frozen = models::memory_plan<my_model, f32,
                                     models::training_policy{.freeze_embeddings = true, .frozen_layers = 3}>;
  std::printf("  ... with embeddings and 3 of 4 blocks frozen: gradients %.2f MB, moments %.2f MB\n",
              megabytes(frozen::gradient_bytes), megabytes(frozen::moment_bytes));

  std::printf("\nwhere block 2 lives in the parameter arena (element offsets):\n");
  // Each module declares its parameters once, in a table (module_spec.hpp);
  // the layout gives each one's offset, indexed by the module's enum.
  using bm = models::block_module;
  const auto& b = plan::parameters.blocks[2];
  std::printf("  qkv weight [3C, C] at %zu, feed-forward in [F, C] at %zu, out [C, F] at %zu\n",
              b[bm::qkv_weight], b[bm::ff1_weight], b[bm::ff2_weight]);

  // Step 4: allocate the parameter arena (one aligned heap block) and fill
  // it with seeded N(0, 0.02) weights from the counter-based generator. The
  // same seed gives the same weights on any machine and thread count.
  arena<float> weights(plan::parameter_elements);
  const philox_rng rng(/*seed=*/2026, rng_stream::init);
  for (std::size_t i = 0; i + 1 < weights.size(); i += 2) {
    const auto z = rng.normal2(0, static_cast<std::uint32_t>(i / 2));
    weights.data()[i] = static_cast<float>(0.02 * z[0]);
    weights.data()[i + 1] = static_cast<float>(0.02 * z[1]);
  }
  double sum = 0, sum_sq = 0;
  for (float w : weights.span()) {
    sum += w;
    sum_sq += static_cast<double>(w) * w;
  }
  const double n = static_cast<double>(weights.size());
  const double stddev = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  std::printf("\nfilled %zu weights: mean %.6f, std %.6f (target 0.02), first %.6f\n", weights.size(),
              sum / n, stddev, static_cast<double>(weights.data()[0]));
  if (std::abs(stddev - 0.02) > 0.001) {
    std::printf("unexpected standard deviation\n");
    return 1;
  }
  std::printf("\nnext: the models guide (docs/) shows this model running forward and backward.\n");
  return 0;
}
