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
static_assert(tiny_plan::parameters.mlm_dense_weight >= tiny_plan::parameters.body_end,
              "the pretraining heads follow the body, so freezing never cuts into them");
static_assert(tiny_plan::parameters.blocks[1].qkv_weight % (arena_alignment / sizeof(double)) == 0);
static_assert(tiny_plan::parameter_elements >= tiny_plan::parameters.real_parameters);
static_assert(tiny_plan::gradient_elements == tiny_plan::parameter_elements);
static_assert(tiny_plan::moment_elements == 2 * tiny_plan::gradient_elements);

// Training policies shrink gradients and moments to the trainable suffix.
using frozen_plan =
    memory_plan<tiny_encoder, f32, models::training_policy{.freeze_embeddings = true, .frozen_layers = 2}>;
static_assert(frozen_plan::first_trainable == frozen_plan::parameters.blocks[2].ln1_gain);
static_assert(frozen_plan::gradient_elements < memory_plan<tiny_encoder, f32>::gradient_elements);
using infer_plan = memory_plan<gpt2_small, f32, models::inference_only>;
static_assert(infer_plan::gradient_bytes == 0 && infer_plan::moment_bytes == 0);
static_assert(infer_plan::parameter_bytes == 124'439'808ull * 4, "GPT-2 small in f32 is 497.8 MB of weights");

// Activations grow with batch x sequence and are constexpr.
static_assert(memory_plan<tiny_decoder, f32>::activation_bytes(2, 16) <
              memory_plan<tiny_decoder, f32>::activation_bytes(4, 16));
constexpr auto acts = memory_plan<tiny_decoder, f32>::activations(3, 7);
static_assert(acts.block.qkv % 16 == 0 && acts.total > acts.blocks);

TEST_CASE("published parameter counts", "[static]") {
  CHECK(parameter_count(bert_base) == 109482240u);
  CHECK(parameter_count(gpt2_small) == 124439808u);
  CHECK(bert_plan::parameter_bytes >= 4 * 109482240u);
}
