// Golden test: encoder<> against Hugging Face BertForPreTraining (fixtures
// from tools/make_golden.py; protocol in tests/golden/README.md). Forward
// (every hidden state, pooler, both heads' logits, losses), every parameter
// gradient, and parameters after AdamW steps, in double and float.
#include "golden_common.hpp"

#include <autodidact/models/encoder.hpp>

using namespace autodidact;

namespace {

constexpr model_config bert_odd = tiny_encoder;  // vocab 97, C 80, 5 heads, 3 layers, F 136, P 40
constexpr model_config bert_small{.vocab = 64,
                                  .max_positions = 16,
                                  .d_model = 32,
                                  .heads = 2,
                                  .d_ff = 48,
                                  .layers = 2,
                                  .type_vocab = 2,
                                  .layer_norm_eps = 1e-12,
                                  .gelu = gelu_kind::erf,
                                  .norm = norm_placement::post,
                                  .tied_lm_head = true,
                                  .pooler = true};

template <model_config C, class P>
void run_bert_fixture(const std::string& fixture) {
  using T = typename P::compute_type;
  using model_t = models::encoder<C, P>;
  constexpr golden::tolerances tol = golden::tolerances_for<T>();
  const auto f = io::safetensors_file::open(golden::fixture_path(fixture));
  const int batch = std::stoi(f.metadata().at("batch")), seq = std::stoi(f.metadata().at("seq_len"));
  REQUIRE(std::stoi(f.metadata().at("hidden_size")) == C.d_model);
  REQUIRE(std::stoi(f.metadata().at("num_hidden_layers")) == C.layers);
  REQUIRE(std::stoi(f.metadata().at("vocab_size")) == C.vocab);
  REQUIRE(std::stoi(f.metadata().at("d_ff")) == C.d_ff);

  auto model = std::make_unique<model_t>(batch, seq);
  io::load_hf_parameters<C>(f, model_t::layout, io::hf_naming::bert_pretraining, model->parameters(),
                            "param.");
  const auto ids = golden::read_ids<T>(f, "input_ids");
  const auto segments = golden::read_ids<T>(f, "token_type_ids");
  const auto labels = golden::read_ids<T>(f, "labels");
  const auto nsp = golden::read_ids<T>(f, "next_sentence_label");
  const auto lengths = golden::lengths_from_mask(f, batch, seq);
  const models::batch_input in{ids, segments, lengths, batch, seq};

  const double fwd_max = golden::kind_scale(
      f, {"hidden.", "pooler_output", "prediction_logits", "seq_relationship_logits", "loss", "train.loss."});
  const double grad_max = golden::kind_scale(f, {"grad."});
  const double after_max = golden::kind_scale(f, {"after1.", "after3."});

  model->zero_gradients();
  model->forward(in);
  for (int i = 0; i <= C.layers; ++i) {
    golden::compare_tensor(f, "hidden." + std::to_string(i), model->hidden_state(i).data(), tol.forward,
                           fwd_max);
  }
  golden::compare_tensor(f, "pooler_output", model->pooled().data(), tol.forward, fwd_max);
  const T loss = model->pretraining_loss(labels, nsp);
  golden::compare_tensor(f, "prediction_logits", model->mlm_logits().data(), tol.forward, fwd_max);
  golden::compare_tensor(f, "seq_relationship_logits", model->nsp_logits().data(), tol.forward, fwd_max);
  const T mlm = model->mlm_loss(), nsp_loss = model->nsp_loss();
  golden::compare_tensor(f, "loss", &loss, tol.forward, fwd_max);
  golden::compare_tensor(f, "loss_mlm", &mlm, tol.forward, fwd_max);
  golden::compare_tensor(f, "loss_nsp", &nsp_loss, tol.forward, fwd_max);

  model->backward();
  golden::compare_parameters<C>(f, model_t::layout, io::hf_naming::bert_pretraining, "grad.",
                                model->gradients().data(), model_t::plan::first_trainable, tol.gradient,
                                grad_max);

  golden::check_adamw_steps<C>(
      f, *model, io::hf_naming::bert_pretraining,
      [&] {
        model->zero_gradients();
        model->forward(in);
        const T l = model->pretraining_loss(labels, nsp);
        model->backward();
        return l;
      },
      tol, fwd_max, after_max);
}

}  // namespace

TEST_CASE("encoder matches BertForPreTraining: odd sizes, padded batch, double", "[golden][bert]") {
  run_bert_fixture<bert_odd, f64>("bert_pretraining_odd");
}
TEST_CASE("encoder matches BertForPreTraining: odd sizes, padded batch, float", "[golden][bert]") {
  run_bert_fixture<bert_odd, f32>("bert_pretraining_odd");
}
TEST_CASE("encoder matches BertForPreTraining: small, double", "[golden][bert]") {
  run_bert_fixture<bert_small, f64>("bert_pretraining_small");
}
TEST_CASE("encoder matches BertForPreTraining: small, float", "[golden][bert]") {
  run_bert_fixture<bert_small, f32>("bert_pretraining_small");
}
