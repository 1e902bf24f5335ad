// Golden test: decoder<> against Hugging Face GPT2LMHeadModel (fixtures from
// tools/make_golden.py; protocol in tests/golden/README.md). Forward (every
// hidden state, logits, loss), every parameter gradient, the gradient w.r.t.
// every hidden state, and parameters after AdamW steps, in double and
// float. Every tensor of a fixture must be compared or used
// (golden::checklist).
#include "golden_common.hpp"

#include <autodidact/models/decoder.hpp>

namespace models_golden_gpt2_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

namespace {

constexpr model_config gpt2_odd{.vocab = 101,
                                .max_positions = 48,
                                .d_model = 80,
                                .heads = 5,
                                .d_ff = 320,
                                .layers = 3,
                                .type_vocab = 0,
                                .layer_norm_eps = 1e-5,
                                .gelu = gelu_kind::tanh,
                                .norm = norm_placement::pre,
                                .tied_lm_head = true,
                                .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};
constexpr model_config gpt2_tiny{.vocab = 64,
                                 .max_positions = 16,
                                 .d_model = 32,
                                 .heads = 2,
                                 .d_ff = 128,
                                 .layers = 2,
                                 .type_vocab = 0,
                                 .layer_norm_eps = 1e-5,
                                 .gelu = gelu_kind::tanh,
                                 .norm = norm_placement::pre,
                                 .tied_lm_head = true,
                                 .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};

template <model_config C, class P>
void run_gpt2_fixture(const std::string& fixture) {
  using T = typename P::compute_type;
  using model_t = models::decoder<C, P>;
  constexpr golden::tolerances tol = golden::tolerances_for<T>();
  const auto f = io::safetensors_file::open(golden::fixture_path(fixture));
  const int batch = std::stoi(f.metadata().at("batch")), seq = std::stoi(f.metadata().at("seq_len"));
  REQUIRE(std::stoi(f.metadata().at("n_embd")) == C.d_model);
  REQUIRE(std::stoi(f.metadata().at("n_layer")) == C.layers);
  REQUIRE(std::stoi(f.metadata().at("vocab_size")) == C.vocab);
  REQUIRE(std::stoi(f.metadata().at("d_ff")) == C.d_ff);

  auto model = std::make_unique<model_t>(batch, seq);
  golden::checklist list(f);
  golden::load_parameters<C>(list, model_t::layout, io::hf_naming::gpt2_lm, model->parameters(), "param.");
  for (const char* input : {"input_ids", "labels", "attention_mask"}) list.use(input);
  const auto ids = golden::read_ids<T>(f, "input_ids");
  const auto labels = golden::read_ids<T>(f, "labels");
  const auto lengths = golden::lengths_from_mask(f, batch, seq);
  const models::batch_input in{ids, {}, lengths, batch, seq};

  const double fwd_max = golden::kind_scale(f, {"hidden.", "logits", "loss", "train.loss."});
  const double grad_max = golden::kind_scale(f, {"grad.", "grad_hidden."});
  const double after_max = golden::kind_scale(f, {"after1.", "after3."});
  const std::size_t btc = static_cast<std::size_t>(batch) * seq * C.d_model;

  model->zero_gradients();
  model->forward(in);
  for (int i = 0; i < C.layers; ++i) {
    list.compare("hidden." + std::to_string(i), model->hidden_state(i).data(), btc, tol.forward, fwd_max);
  }
  list.compare("hidden.last_block", model->hidden_state(C.layers).data(), btc, tol.forward, fwd_max);
  list.compare("hidden." + std::to_string(C.layers), model->hidden().data(), btc, tol.forward, fwd_max);
  list.compare("logits", model->logits().data(), model->logits().size(), tol.forward, fwd_max);
  const T loss = model->clm_loss(labels);
  list.compare("loss", &loss, 1, tol.forward, fwd_max);
  list.compare("train.loss.1", &loss, 1, tol.forward, fwd_max);

  // d loss / d hidden.<i>: backward passes index i < L for block i's input,
  // L for the last block's output (hidden.last_block) and L + 1 for the
  // final LayerNorm's output (HF's hidden.<L>).
  golden::hidden_gradients dh{btc, {}};
  model->observe_hidden_gradients(&golden::hidden_gradients::observe<T>, &dh);
  model->backward();
  model->observe_hidden_gradients(nullptr);
  REQUIRE(dh.by_index.size() == static_cast<std::size_t>(C.layers + 2));
  for (int i = 0; i <= C.layers + 1; ++i) {
    const std::string name = i < C.layers    ? "grad_hidden." + std::to_string(i)
                             : i == C.layers ? std::string("grad_hidden.last_block")
                                             : "grad_hidden." + std::to_string(C.layers);
    list.compare(name, dh.by_index[i].data(), btc, tol.gradient, grad_max);
  }
  golden::compare_parameters<C>(list, model_t::layout, io::hf_naming::gpt2_lm, "grad.",
                                model->gradients().data(), model_t::plan::first_trainable, tol.gradient,
                                grad_max);

  golden::check_adamw_steps<C>(
      list, *model, io::hf_naming::gpt2_lm,
      [&] {
        model->zero_gradients();
        model->forward(in);
        const T l = model->clm_loss(labels);
        model->backward();
        return l;
      },
      tol, fwd_max, after_max);
  list.finish();
}

}  // namespace

TEST_CASE("decoder matches GPT2LMHeadModel: odd sizes, padded batch, double", "[golden][gpt2]") {
  run_gpt2_fixture<gpt2_odd, f64>("gpt2_lm_odd");
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("decoder matches GPT2LMHeadModel: odd sizes, padded batch, float", "[golden][gpt2]") {
  run_gpt2_fixture<gpt2_odd, f32>("gpt2_lm_odd");
}
#endif
TEST_CASE("decoder matches GPT2LMHeadModel: small, double", "[golden][gpt2]") {
  run_gpt2_fixture<gpt2_tiny, f64>("gpt2_lm_small");
}
#if !defined(__SANITIZE_ADDRESS__)  // float variants: Release only (CI time; ASan runs the double ones)
TEST_CASE("decoder matches GPT2LMHeadModel: small, float", "[golden][gpt2]") {
  run_gpt2_fixture<gpt2_tiny, f32>("gpt2_lm_small");
}
#endif

}  // namespace models_golden_gpt2_tests
