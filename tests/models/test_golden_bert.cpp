// Golden test: encoder<> against Hugging Face BertForPreTraining and, with
// factorised embeddings and no pooler, ElectraForMaskedLM (fixtures from
// tools/make_golden.py; protocol in tests/golden/README.md). Forward
// (every hidden state, pooler, both heads' logits, losses), every parameter
// gradient, the gradient w.r.t. every hidden state, and parameters after
// AdamW steps, in double and float. Every tensor of a fixture must be
// compared or used (golden::checklist).
#include "golden_common.hpp"

#include <autodidact/models/encoder.hpp>

namespace models_golden_bert_tests {  // tests/CMakeLists.txt: one translation unit per folder

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

// BertForMaskedLM: no pooler, the MLM head alone.
constexpr model_config bert_mlm{.vocab = 71, .max_positions = 24, .d_model = 40, .heads = 5, .d_ff = 56,
                                .layers = 2, .type_vocab = 2, .layer_norm_eps = 1e-12, .gelu = gelu_kind::erf,
                                .norm = norm_placement::post, .tied_lm_head = true, .pooler = false};

// ELECTRA generators: embeddings narrower and wider than the blocks.
constexpr model_config electra_narrow{.vocab = 61, .max_positions = 24, .d_model = 48, .heads = 3, .d_ff = 72,
                                      .layers = 2, .type_vocab = 2, .layer_norm_eps = 1e-12, .gelu = gelu_kind::erf,
                                      .norm = norm_placement::post, .tied_lm_head = true, .pooler = false,
                                      .embedding_size = 20};
constexpr model_config electra_wide{.vocab = 53, .max_positions = 16, .d_model = 24, .heads = 2, .d_ff = 40,
                                    .layers = 2, .type_vocab = 2, .layer_norm_eps = 1e-12, .gelu = gelu_kind::erf,
                                    .norm = norm_placement::post, .tied_lm_head = true, .pooler = false,
                                    .embedding_size = 40};

template <model_config C, class P>
void run_bert_fixture(const std::string& fixture, io::hf_naming naming = io::hf_naming::bert_pretraining,
                      heads::mlm_rows rows = heads::mlm_rows::labelled) {
  using T = typename P::compute_type;
  using model_t = models::encoder<C, P>;
  constexpr golden::tolerances tol = golden::tolerances_for<T>();
  const auto f = io::safetensors_file::open(golden::fixture_path(fixture));
  const int batch = std::stoi(f.metadata().at("batch")), seq = std::stoi(f.metadata().at("seq_len"));
  REQUIRE(std::stoi(f.metadata().at("hidden_size")) == C.d_model);
  REQUIRE(std::stoi(f.metadata().at("num_hidden_layers")) == C.layers);
  REQUIRE(std::stoi(f.metadata().at("vocab_size")) == C.vocab);
  REQUIRE(std::stoi(f.metadata().at("d_ff")) == C.d_ff);
  if constexpr (C.embedding_size != 0) REQUIRE(std::stoi(f.metadata().at("embedding_size")) == C.embedding_size);

  auto model = std::make_unique<model_t>(batch, seq);
  golden::checklist list(f);
  golden::load_parameters<C>(list, model_t::layout, naming, model->parameters(), "param.");
  for (const char* input : {"input_ids", "token_type_ids", "labels", "attention_mask"}) list.use(input);
  if constexpr (C.pooler) list.use("next_sentence_label");
  const auto ids = golden::read_ids<T>(f, "input_ids");
  const auto segments = golden::read_ids<T>(f, "token_type_ids");
  const auto labels = golden::read_ids<T>(f, "labels");
  const auto nsp = C.pooler ? golden::read_ids<T>(f, "next_sentence_label") : std::vector<std::int32_t>{};
  const auto lengths = golden::lengths_from_mask(f, batch, seq);
  const models::batch_input in{ids, segments, lengths, batch, seq};

  const double fwd_max = golden::kind_scale(
      f, {"hidden.", "pooler_output", "prediction_logits", "seq_relationship_logits", "loss", "train.loss."});
  const double grad_max = golden::kind_scale(f, {"grad.", "grad_hidden."});
  const double after_max = golden::kind_scale(f, {"after1.", "after3."});
  const std::size_t btc = static_cast<std::size_t>(batch) * seq * C.d_model;

  model->zero_gradients();
  model->forward(in);
  for (int i = 0; i <= C.layers; ++i) {
    list.compare("hidden." + std::to_string(i), model->hidden_state(i).data(), btc, tol.forward, fwd_max);
  }
  if constexpr (C.pooler) {
    list.compare("pooler_output", model->pooled().data(), model->pooled().size(), tol.forward, fwd_max);
  }
  const T loss = model->pretraining_loss(labels, nsp, rows);
  list.compare("prediction_logits", model->mlm_logits().data(), model->mlm_logits().size(), tol.forward,
               fwd_max);
  const T mlm = model->mlm_loss(), nsp_loss = model->nsp_loss();
  list.compare("loss", &loss, 1, tol.forward, fwd_max);
  list.compare("train.loss.1", &loss, 1, tol.forward, fwd_max);
  list.compare("loss_mlm", &mlm, 1, tol.forward, fwd_max);
  if constexpr (C.pooler) {
    list.compare("seq_relationship_logits", model->nsp_logits().data(), model->nsp_logits().size(),
                 tol.forward, fwd_max);
    list.compare("loss_nsp", &nsp_loss, 1, tol.forward, fwd_max);
  }

  // d loss / d hidden.<i>, i = 0..L, recorded as backward passes them.
  golden::hidden_gradients dh{btc, {}};
  model->observe_hidden_gradients(&golden::hidden_gradients::observe<T>, &dh);
  model->backward();
  model->observe_hidden_gradients(nullptr);
  for (int i = 0; i <= C.layers; ++i) {
    INFO("d loss / d hidden." << i);
    REQUIRE(dh.by_index.count(i) == 1);
    list.compare("grad_hidden." + std::to_string(i), dh.by_index[i].data(), btc, tol.gradient, grad_max);
  }
  REQUIRE(dh.by_index.size() == static_cast<std::size_t>(C.layers + 1));
  golden::compare_parameters<C>(list, model_t::layout, naming, "grad.",
                                model->gradients().data(), model_t::plan::first_trainable, tol.gradient,
                                grad_max);

  golden::check_adamw_steps<C>(
      list, *model, naming,
      [&] {
        model->zero_gradients();
        model->forward(in);
        const T l = model->pretraining_loss(labels, nsp, rows);
        model->backward();
        return l;
      },
      tol, fwd_max, after_max);
  list.finish();
}

}  // namespace

TEST_CASE("encoder matches BertForPreTraining: odd sizes, padded batch, double", "[golden][bert]") {
  run_bert_fixture<bert_odd, f64>("bert_pretraining_odd");
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("encoder matches BertForPreTraining: odd sizes, padded batch, float", "[golden][bert]") {
  run_bert_fixture<bert_odd, f32>("bert_pretraining_odd");
}
#endif
TEST_CASE("encoder matches BertForPreTraining: small, double", "[golden][bert]") {
  run_bert_fixture<bert_small, f64>("bert_pretraining_small");
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("encoder matches BertForPreTraining: small, float", "[golden][bert]") {
  run_bert_fixture<bert_small, f32>("bert_pretraining_small");
}
#endif
TEST_CASE("encoder matches ElectraForMaskedLM: embeddings narrower than the blocks, double", "[golden][electra]") {
  run_bert_fixture<electra_narrow, f64>("electra_generator_narrow", io::hf_naming::electra_generator);
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("encoder matches ElectraForMaskedLM: embeddings narrower than the blocks, float", "[golden][electra]") {
  run_bert_fixture<electra_narrow, f32>("electra_generator_narrow", io::hf_naming::electra_generator);
}
#endif
TEST_CASE("encoder matches ElectraForMaskedLM: embeddings wider than the blocks, double", "[golden][electra]") {
  run_bert_fixture<electra_wide, f64>("electra_generator_wide", io::hf_naming::electra_generator);
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("encoder matches ElectraForMaskedLM: embeddings wider than the blocks, float", "[golden][electra]") {
  run_bert_fixture<electra_wide, f32>("electra_generator_wide", io::hf_naming::electra_generator);
}
#endif
// The MLM head on the labelled rows only (the default) and on every row.
TEST_CASE("encoder matches BertForMaskedLM: MLM head on the labelled rows, double", "[golden][bert]") {
  run_bert_fixture<bert_mlm, f64>("bert_mlm_small");
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("encoder matches BertForMaskedLM: MLM head on the labelled rows, float", "[golden][bert]") {
  run_bert_fixture<bert_mlm, f32>("bert_mlm_small");
}
#endif
TEST_CASE("encoder matches BertForMaskedLM: MLM head on every row, double", "[golden][bert]") {
  run_bert_fixture<bert_mlm, f64>("bert_mlm_small", io::hf_naming::bert_pretraining, heads::mlm_rows::all);
}
TEST_CASE("encoder matches BertForPreTraining: MLM head on every row, double", "[golden][bert]") {
  run_bert_fixture<bert_odd, f64>("bert_pretraining_odd", io::hf_naming::bert_pretraining, heads::mlm_rows::all);
}

}  // namespace models_golden_bert_tests
