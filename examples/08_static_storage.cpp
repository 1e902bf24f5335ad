// Example 08: a model in static storage, with its byte budget checked by
// the compiler.
//
// On a small device you want to know, before the program runs, how much
// memory the model takes, and to have nothing allocated while it runs. In
// autodidact where a model keeps its memory is part of its type (the
// storage policy, models/storage.hpp): by default each arena is allocated
// on the heap at construction, but with static_arenas<B, T> the weights and
// the workspace for batches of up to B sequences of up to T tokens live
// inside the object. Its size is then a compile-time constant: here a
// static_assert holds it to a budget, and the object is declared `static`,
// so it sits in the program's data segment and never touches the heap.
//
// The example makes a checkpoint the way a workstation would (a model on
// the heap, seeded weights, saved to a file), loads it into the static
// model, runs a forward pass on one sentence, and checks that both give the
// same bits.
//
//   ./08_static_storage            full run
//   ./08_static_storage --smoke    the same (it is quick); CTest passes --smoke

#include <autodidact/autodidact.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

using namespace autodidact;

// Step 1: the architecture, a small BERT-style encoder (as in example 01,
// every field a compile-time constant).
constexpr model_config tiny_bert{.vocab = 1000,       // V
                                 .max_positions = 64,  // longest sequence
                                 .d_model = 64,        // C
                                 .heads = 4,           // H (D = 16)
                                 .d_ff = 256,          // feed-forward width
                                 .layers = 2,          // L
                                 .type_vocab = 2,
                                 .layer_norm_eps = 1e-12,
                                 .gelu = gelu_kind::erf,
                                 .norm = norm_placement::post,
                                 .tied_lm_head = true,
                                 .pooler = true};

// Step 2: the model type. Inference only (no gradients, no optimizer
// state, only what a forward needs), float32, and its arenas inside the
// object, sized for one sequence of up to 32 tokens.
constexpr int max_batch = 1, max_seq = 32;
using device_model =
    models::encoder<tiny_bert, f32, models::inference_only, models::static_arenas<max_batch, max_seq>>;

// Step 3: the byte budget. sizeof is a constant, so the compiler checks it.
// The memory plan says where the bytes go (parameters, then the activations
// and token buffers of one workspace); the object adds a few hundred bytes
// of bookkeeping.
using plan = device_model::plan;
constexpr std::size_t budget = 1024 * 1024;
static_assert(sizeof(device_model) <= budget, "the device model must fit in 1 MiB");
static_assert(sizeof(device_model) >= plan::model_bytes(max_batch, max_seq),
              "the weights and the workspace are inside the object");
static_assert(plan::gradient_elements == 0, "inference only: no gradient arena");

// Step 4: the object itself, with static storage duration (never a local
// variable: it is about 0.9 MB). It is constructed on first use, with zero
// weights (about to be loaded).
device_model& the_model() {
  static device_model model(models::init_options{.zeros = true});
  return model;
}

static double kib(std::size_t bytes) { return static_cast<double>(bytes) / 1024.0; }

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  std::printf("autodidact %d.%d.%d -- example 07: a model in static storage%s\n\n", version_major, version_minor,
              version_patch, smoke ? " (smoke run)" : "");

  std::printf("model: V=%d C=%d H=%d F=%d L=%d, arenas for %d x %d tokens inside the object\n", tiny_bert.vocab,
              tiny_bert.d_model, tiny_bert.heads, tiny_bert.d_ff, tiny_bert.layers, max_batch, max_seq);
  std::printf("  parameters (with the heads)      %7.1f KiB\n", kib(plan::parameter_bytes));
  std::printf("  workspace (activations, ids)     %7.1f KiB\n", kib(plan::workspace_bytes(max_batch, max_seq)));
  std::printf("  sizeof(device_model)             %7.1f KiB  (budget %.0f KiB, checked at compile time)\n",
              kib(sizeof(device_model)), kib(budget));

  // Step 5: a checkpoint, made as a workstation would: the same model type
  // with the default storage (heap arenas, sized at run time), seeded
  // weights, saved in autodidact's checkpoint format.
  using workstation_model = models::encoder<tiny_bert, f32, models::inference_only>;
  workstation_model trained(max_batch, max_seq, models::init_options{.seed = 2024});
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "autodidact_08_static_storage.safetensors";
  io::save_checkpoint(file, trained);
  std::printf("\nsaved a checkpoint: %s\n", file.string().c_str());

  // Step 6: load it into the static model. Loading reads the file (the
  // reader maps it); the model itself allocates nothing, now or later.
  device_model& model = the_model();
  io::load_checkpoint(file, model);
  std::filesystem::remove(file);
  std::printf("loaded it into the static model\n");

  // Step 7: a forward pass over one sentence of token ids (a tokenizer
  // would make them: see example 03).
  const std::vector<std::int32_t> ids{101, 7, 42, 365, 12, 999, 3, 102};
  const models::batch_input sentence{ids, {}, {}, 1, static_cast<int>(ids.size())};
  model.forward(sentence);
  trained.forward(sentence);
  const auto pooled = model.pooled();  // [1, C]
  std::printf("\npooled sentence vector (first 6 of %d):", tiny_bert.d_model);
  for (int i = 0; i < 6; ++i) std::printf(" %+.5f", static_cast<double>(pooled(0, i)));
  std::printf("\n");

  // The same weights and the same code: the same bits as the heap model.
  const auto a = model.hidden(), b = trained.hidden();
  const bool same = std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0 &&
                    std::memcmp(pooled.data(), trained.pooled().data(), pooled.size() * sizeof(float)) == 0;
  std::printf("static model == heap model, bit for bit: %s\n", same ? "yes" : "NO");

  // A batch beyond the compile-time bound is refused with a sentence.
  try {
    const std::vector<std::int32_t> long_ids(max_seq + 1, 7);
    model.forward({long_ids, {}, {}, 1, max_seq + 1});
  } catch (const error& e) {
    std::printf("a %d-token sentence is refused: %s\n", max_seq + 1, e.what());
  }
  return same ? 0 : 1;
}
