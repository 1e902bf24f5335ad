// Compile-time facts about configs, precisions and memory plans. Everything
// here is a static_assert; the TEST_CASEs only repeat a few at run time so
// the executable reports something.
#include <catch2/catch.hpp>

#include <autodidact/config.hpp>
#include <autodidact/models/memory_plan.hpp>
#include <autodidact/precision.hpp>

#include <type_traits>

using namespace autodidact;
using models::memory_plan;

// Published parameter counts.
static_assert(parameter_count(bert_base) == 109'482'240,
              "BertModel (with pooler) has 109,482,240 parameters");
static_assert(parameter_count(gpt2_small) == 124'439'808, "GPT-2 small has 124,439,808 parameters");
static_assert(parameter_count(minilm_l6) == 22'713'216,
              "all-MiniLM-L6-v2's BertModel has 22,713,216 parameters");

// Validity.
static_assert(valid_config<bert_base> && valid_config<gpt2_small> && valid_config<minilm_l6>);
static_assert(valid_config<tiny_encoder> && valid_config<tiny_decoder>);
static_assert(gpt2_small.type_vocab == 0, "type vocab 0 is valid: GPT-2 has no segments");
constexpr model_config bad_heads = [] {
  auto c = tiny_encoder;
  c.heads = 3;
  return c;
}();
static_assert(!valid_config<bad_heads>);
constexpr model_config zero_vocab = [] {
  auto c = tiny_encoder;
  c.vocab = 0;
  return c;
}();
static_assert(!valid_config<zero_vocab>);
static_assert(bert_base.head_dim() == 64 && minilm_l6.head_dim() == 32 && tiny_encoder.head_dim() == 16);

// Precision policies.
static_assert(std::is_same_v<f32::storage_type, float> && std::is_same_v<f32::accum_type, float>);
static_assert(std::is_same_v<f64::compute_type, double>);
static_assert(std::is_same_v<bf16w::storage_type, bf16> && std::is_same_v<bf16w::compute_type, float>);
static_assert(plain_precision<f32> && plain_precision<f64> && !plain_precision<bf16w> &&
              !plain_precision<int8w>);

// Memory plans: parameters are the real count plus alignment padding only;
// every tensor starts on a cache line.
using bert_plan = memory_plan<bert_base, f32>;
static_assert(bert_plan::parameters.body_end == parameter_count(bert_base),
              "BERT-base's sizes are multiples of 16 floats, so its body needs no padding");
static_assert(bert_plan::parameters.real_parameters ==
                  parameter_count(bert_base) + (768 * 768 + 768) + 2 * 768 + 30522 + (2 * 768 + 2),
              "BertForPreTraining = body + MLM transform + MLM LN + output bias + NSP head");
using tiny_plan = memory_plan<tiny_encoder, f64>;
static_assert(tiny_plan::parameters.head<heads::mlm_head>()[heads::mlm_head::dense_weight] >= tiny_plan::parameters.body_end,
              "the pretraining heads follow the body, so freezing never cuts into them");
static_assert(tiny_plan::parameters.blocks[1][autodidact::models::block_module::qkv_weight] % (arena_alignment / sizeof(double)) == 0);
static_assert(tiny_plan::parameter_elements >= tiny_plan::parameters.real_parameters);
static_assert(tiny_plan::gradient_elements == tiny_plan::parameter_elements);
static_assert(tiny_plan::moment_elements == 2 * tiny_plan::gradient_elements);

// Training policies shrink gradients and moments to the trainable suffix.
using frozen_plan =
    memory_plan<tiny_encoder, f32, models::training_policy{.freeze_embeddings = true, .frozen_layers = 2}>;
static_assert(frozen_plan::first_trainable == frozen_plan::parameters.blocks[2][autodidact::models::block_module::ln1_gain]);
static_assert(frozen_plan::first_trainable == frozen_plan::parameters.blocks[1].end);
static_assert(frozen_plan::gradient_elements < memory_plan<tiny_encoder, f32>::gradient_elements);
using infer_plan = memory_plan<gpt2_small, f32, models::inference_only>;
static_assert(infer_plan::gradient_bytes == 0 && infer_plan::moment_bytes == 0);
static_assert(infer_plan::parameter_bytes == 124'439'808ull * 4, "GPT-2 small in f32 is 497.8 MB of weights");

// Activations grow with batch x sequence and are constexpr.
static_assert(memory_plan<tiny_decoder, f32>::activation_bytes(2, 16) <
              memory_plan<tiny_decoder, f32>::activation_bytes(4, 16));
constexpr auto acts = memory_plan<tiny_decoder, f32>::activations(3, 7);
static_assert(acts.block.qkv % 16 == 0 && acts.total > acts.blocks);

// The module spec (models/module_spec.hpp): counts derived from the modules'
// tables equal Hugging Face's (num_parameters() of each class, tied weights
// once), and the optimizer's weight-decay groups cover the trainable arena.
static_assert(bert_plan::parameters.real_parameters == 110'106'428,
              "BertForPreTraining(bert-base-uncased).num_parameters() is 110,106,428");
static_assert(memory_plan<gpt2_small, f32>::parameters.real_parameters == 124'439'808,
              "GPT2LMHeadModel(gpt2).num_parameters() is 124,439,808 (lm_head tied to wte)");
// ELECTRA-small's generator (google/electra-small-generator: embeddings
// 128 wide projected into 256-wide blocks, no pooler).
inline constexpr model_config electra_small_generator{
    .vocab = 30522, .max_positions = 512, .d_model = 256, .heads = 4, .d_ff = 1024, .layers = 12,
    .type_vocab = 2, .layer_norm_eps = 1e-12, .gelu = gelu_kind::erf, .norm = norm_placement::post,
    .tied_lm_head = true, .pooler = false, .embedding_size = 128};
static_assert(memory_plan<electra_small_generator, f32>::parameters.real_parameters == 13'546'682,
              "ElectraForMaskedLM(electra-small-generator).num_parameters() is 13,546,682");
static_assert(parameter_count(electra_small_generator) == 13'483'008,
              "ElectraModel(electra-small-generator).num_parameters() is 13,483,008");
static_assert(memory_plan<minilm_l6, f32>::parameters.real_parameters ==
                  22'713'216 + (384 * 384 + 384) + 2 * 384 + 30522 + (2 * 384 + 2),
              "all-MiniLM-L6-v2 as BertForPreTraining: its BertModel plus the heads");
constexpr model_config untied_decoder = [] {
  auto c = tiny_decoder;
  c.tied_lm_head = false;
  return c;
}();
static_assert(memory_plan<untied_decoder, f32>::parameters.real_parameters ==
                  memory_plan<tiny_decoder, f32>::parameters.real_parameters + 101 * 64,
              "an untied LM head is its own [V, C] matrix");
template <class Plan>
constexpr bool decay_groups_cover() {
  std::size_t at = 0;
  bool last = !Plan::decay_groups[0].decay;
  for (const models::decay_range& r : Plan::decay_groups) {
    if (r.begin != at || r.count == 0 || r.decay == last) return false;  // contiguous, alternating
    at += r.count;
    last = r.decay;
  }
  return at == Plan::gradient_elements;
}
// A function, not an inline `off >= Plan::first_trainable`: with
// first_trainable = 0 GCC warns that the comparison is always true.
constexpr bool at_or_after(std::size_t offset, std::size_t first) { return offset >= first; }
template <class Plan>
constexpr std::size_t decayed_parameters() {
  std::size_t n = 0;
  Plan::parameters.for_each_parameter([&](const auto&, std::size_t, const models::param_spec& s, std::size_t off) {
    if (at_or_after(off, Plan::first_trainable) && models::decays(s.role)) n += s.elements();
  });
  return n;
}
static_assert(decay_groups_cover<tiny_plan>() && decay_groups_cover<frozen_plan>() &&
              decay_groups_cover<memory_plan<tiny_decoder, f32>>());
static_assert(tiny_plan::decay_groups[0].decay, "the token embedding comes first and is decayed");
// tiny_encoder: embeddings V·C + P·C + S·C, per block 3C² + C² + 2·C·F, pooler C², MLM dense C², NSP 2·C
static_assert(decayed_parameters<tiny_plan>() ==
                  (97 + 40 + 2) * 80 + 3 * (4 * 80 * 80 + 2 * 80 * 136) + 80 * 80 + 80 * 80 + 2 * 80,
              "matrices and embeddings are decayed; biases and LayerNorm parameters are not");

TEST_CASE("published parameter counts", "[static]") {
  CHECK(parameter_count(bert_base) == 109482240u);
  CHECK(parameter_count(gpt2_small) == 124439808u);
  CHECK(bert_plan::parameter_bytes >= 4 * 109482240u);
}
