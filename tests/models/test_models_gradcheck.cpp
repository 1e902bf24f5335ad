// Finite-difference gradient checks (double) of whole models: the encoder
// with BERT's pretraining loss (MLM + NSP) and the decoder with the causal-LM
// loss, over a padded batch; also with dropout on (a fixed step fixes the
// masks) and with a frozen prefix (training_policy).
#include "../layers/gradcheck.hpp"

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <memory>

using namespace autodidact;

namespace {

// Sampled parameters per model: every parameter tensor is hit many times in
// release; the sanitizer build (about 10x slower) checks a smaller sample.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t model_samples = 250;
#else
constexpr std::size_t model_samples = 1500;
#endif

constexpr model_config enc_cfg{.vocab = 23,
                               .max_positions = 9,
                               .d_model = 12,
                               .heads = 3,
                               .d_ff = 10,
                               .layers = 2,
                               .type_vocab = 2,
                               .layer_norm_eps = 1e-12,
                               .gelu = gelu_kind::erf,
                               .norm = norm_placement::post,
                               .tied_lm_head = true,
                               .pooler = true};
constexpr model_config dec_cfg{.vocab = 19,
                               .max_positions = 10,
                               .d_model = 8,
                               .heads = 2,
                               .d_ff = 16,
                               .layers = 2,
                               .type_vocab = 0,
                               .layer_norm_eps = 1e-5,
                               .gelu = gelu_kind::tanh,
                               .norm = norm_placement::pre,
                               .tied_lm_head = true,
                               .pooler = false};

template <class Model>
void randomize(Model& m, std::uint64_t seed) {
  auto p = m.parameters();
  gradcheck::fill_normal(p.data(), p.size(), seed, 0.3);
}

// Gain parameters near 1, so LayerNorms are well conditioned.
template <class Model, class Offsets>
void gains_near_one(Model& m, std::initializer_list<Offsets> offsets) {
  for (auto o : offsets)
    for (int j = 0; j < Model::config.d_model; ++j) m.parameters()[o + static_cast<std::size_t>(j)] += 1.0;
}

template <class Model>
void check_model_gradients(Model& m, const std::function<double()>& loss, const char* what) {
  m.zero_gradients();
  loss();
  m.backward();
  std::vector<double> analytic(m.parameters().size(), 0.0);
  std::copy(m.gradients().begin(), m.gradients().end(),
            analytic.begin() + static_cast<std::ptrdiff_t>(Model::plan::first_trainable));
  // Frozen parameters have no gradient; the check then also proves the loss
  // does depend on them (otherwise a zero analytic gradient would pass).
  gradcheck::check(what, m.parameters().data() + Model::plan::first_trainable,
                   m.parameters().size() - Model::plan::first_trainable,
                   analytic.data() + Model::plan::first_trainable, loss, model_samples, 1e-5, 2e-6);
}

}  // namespace

TEST_CASE("encoder: BERT pretraining loss gradient, padded batch", "[gradcheck][encoder]") {
  for (float dropout : {0.0f, 0.15f}) {
    using model_t = models::encoder<enc_cfg, f64>;
    auto m = std::make_unique<model_t>(3, 9);
    randomize(*m, 40);
    const auto& L = model_t::layout;
    gains_near_one(*m, {L.embedding_ln_gain, L.blocks[0].ln1_gain, L.blocks[0].ln2_gain, L.blocks[1].ln1_gain,
                        L.blocks[1].ln2_gain, L.mlm_ln_gain});
    std::vector<std::int32_t> ids{2,  5, 9, 4, 11, 3,  7, 8,  3, 2, 6, 6, 3, 14,
                                  15, 3, 0, 0, 2,  21, 3, 19, 3, 0, 0, 0, 0};
    std::vector<std::int32_t> segs{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1,
                                   1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0};
    std::vector<std::int32_t> lengths{9, 7, 5};
    std::vector<std::int32_t> labels(27, -100), nsp{0, 1, 1};
    labels[3] = 10;
    labels[4] = 12;
    labels[11] = 1;
    labels[19] = 22;
    m->set_dropout({.hidden = dropout, .attention = dropout, .seed = 77});
    m->set_training(true);
    m->set_step(5);
    const models::batch_input in{ids, segs, lengths, 3, 9};
    check_model_gradients(
        *m,
        [&] {
          m->forward(in);
          return static_cast<double>(m->pretraining_loss(labels, nsp));
        },
        dropout > 0 ? "encoder with dropout" : "encoder");
  }
}

TEST_CASE("decoder: causal LM loss gradient, padded batch", "[gradcheck][decoder]") {
  for (float dropout : {0.0f, 0.1f}) {
    using model_t = models::decoder<dec_cfg, f64>;
    auto m = std::make_unique<model_t>(2, 10);
    randomize(*m, 41);
    const auto& L = model_t::layout;
    gains_near_one(*m, {L.blocks[0].ln1_gain, L.blocks[0].ln2_gain, L.blocks[1].ln1_gain,
                        L.blocks[1].ln2_gain, L.final_ln_gain});
    std::vector<std::int32_t> ids{1, 5, 9, 4, 11, 3, 7, 8, 3, 2, 6, 6, 3, 14, 15, 3, 18, 18, 18, 18};
    std::vector<std::int32_t> labels = ids;
    for (int t = 6; t < 10; ++t) labels[static_cast<std::size_t>(10 + t)] = -100;
    std::vector<std::int32_t> lengths{10, 6};
    m->set_dropout({.hidden = dropout, .attention = dropout, .seed = 78});
    m->set_training(true);
    m->set_step(2);
    const models::batch_input in{ids, {}, lengths, 2, 10};
    check_model_gradients(
        *m,
        [&] {
          m->forward(in);
          return static_cast<double>(m->clm_loss(labels));
        },
        dropout > 0 ? "decoder with dropout" : "decoder");
  }
}

TEST_CASE("a frozen prefix gets no gradient and the rest stays exact", "[gradcheck][policy]") {
  constexpr models::training_policy frozen{.freeze_embeddings = true, .frozen_layers = 1};
  using model_t = models::encoder<enc_cfg, f64, frozen>;
  using full_t = models::encoder<enc_cfg, f64>;
  static_assert(model_t::plan::gradient_elements < full_t::plan::gradient_elements);
  auto m = std::make_unique<model_t>(2, 6);
  auto full = std::make_unique<full_t>(2, 6);
  randomize(*m, 42);
  std::copy(m->parameters().begin(), m->parameters().end(), full->parameters().begin());
  std::vector<std::int32_t> ids{2, 5, 9, 3, 7, 3, 2, 6, 3, 14, 3, 0}, labels(12, -100), nsp{1, 0};
  labels[2] = 4;
  labels[7] = 8;
  const models::batch_input in{ids, {}, {}, 2, 6};
  m->zero_gradients();
  m->forward(in);
  m->pretraining_loss(labels, nsp);
  m->backward();
  full->zero_gradients();
  full->forward(in);
  full->pretraining_loss(labels, nsp);
  full->backward();
  // The trainable suffix of the full model's gradient equals the frozen model's.
  const std::size_t offset = model_t::plan::first_trainable;
  REQUIRE(m->gradients().size() == full->gradients().size() - offset);
  double err = 0;
  for (std::size_t i = 0; i < m->gradients().size(); ++i)
    err = std::max(err, std::abs(m->gradients()[i] - full->gradients()[offset + i]));
  CHECK(err < 1e-12);
}
