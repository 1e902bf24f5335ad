// Finite-difference gradient checks (double) of whole models: the encoder
// with BERT's pretraining loss (MLM + NSP) and the decoder with the causal-LM
// loss, over a padded batch; also with dropout on (a fixed step fixes the
// masks) and with a frozen prefix (training_policy). Every parameter tensor
// is checked at elements spread over it, and named when it fails.
#include "../layers/gradcheck.hpp"

#include <autodidact/io/hf_names.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <memory>
#include <string>
#include <vector>

namespace models_models_gradcheck_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

namespace {

// Checked elements per parameter tensor (all of a tensor that has fewer),
// spread over the whole tensor: every tensor of a model is checked, by name.
// The sanitizer build (about 10x slower) checks fewer per tensor.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t per_tensor_samples = 4;
#else
constexpr std::size_t per_tensor_samples = 16;
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
                               .pooler = false, .attention = attention_kind::causal, .embedding_norm = false, .final_norm = true};

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

// Every LayerNorm gain near 1 (whatever its width), from the module tables.
template <class Model>
void all_gains_near_one(Model& m) {
  Model::layout.for_each_parameter([&](const auto&, std::size_t, const models::param_spec& s, std::size_t offset) {
    if (s.role != models::param_role::norm_gain) return;
    for (std::size_t j = 0; j < s.elements(); ++j) m.parameters()[offset + j] += 1.0;
  });
}

// One entry per parameter tensor: its Hugging Face name, arena offset and
// element count. Together they cover every real parameter of the model.
struct tensor_entry {
  std::string name;
  std::size_t offset = 0, count = 0;
};
template <class Model>
std::vector<tensor_entry> parameter_tensors(io::hf_naming naming) {
  std::vector<tensor_entry> out;
  std::size_t total = 0;
  for (const auto& e : io::hf_parameter_map<Model::config>(Model::layout, naming)) {
    std::size_t count = 1;
    for (auto d : e.shape) count *= static_cast<std::size_t>(d);
    out.push_back({e.name, e.offset, count});
    total += count;
  }
  REQUIRE(total == Model::layout.real_parameters);  // no tensor left out
  return out;
}

// max |analytic| over the whole model: 1e-3 of it is the scale floor of a
// tensor whose gradient is zero in exact arithmetic (BERT's key bias).
inline double largest(const std::vector<double>& g) {
  double m = 0;
  for (double x : g) m = std::max(m, std::abs(x));
  return m;
}

// Finite differences at per_tensor_samples elements of every trainable
// parameter tensor of `m` (the frozen prefix has no gradient; the policy
// test checks it separately).
template <class Model>
void check_model_gradients(Model& m, const std::function<double()>& loss, io::hf_naming naming,
                           const std::string& what) {
  m.zero_gradients();
  loss();
  m.backward();
  std::vector<double> analytic(m.parameters().size(), 0.0);
  std::copy(m.gradients().begin(), m.gradients().end(),
            analytic.begin() + static_cast<std::ptrdiff_t>(Model::plan::first_trainable));
  const double floor = 1e-3 * largest(analytic);
  int checked = 0;
  for (const tensor_entry& t : parameter_tensors<Model>(naming)) {
    if (t.offset < Model::plan::first_trainable) continue;
    gradcheck::check(what + ": " + t.name, m.parameters().data() + t.offset, t.count,
                     analytic.data() + t.offset, loss, per_tensor_samples, 1e-5, 2e-6, floor);
    ++checked;
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("encoder: BERT pretraining loss gradient, padded batch", "[gradcheck][encoder]") {
  for (float dropout : {0.0f, 0.15f}) {
    using model_t = models::encoder<enc_cfg, f64>;
    auto m = std::make_unique<model_t>(3, 9);
    randomize(*m, 40);
    const auto& L = model_t::layout;
    gains_near_one(*m, {L.embeddings[autodidact::models::embeddings_module::norm_gain], L.blocks[0][autodidact::models::block_module::ln1_gain], L.blocks[0][autodidact::models::block_module::ln2_gain], L.blocks[1][autodidact::models::block_module::ln1_gain],
                        L.blocks[1][autodidact::models::block_module::ln2_gain], L.template head<autodidact::heads::mlm_head>()[autodidact::heads::mlm_head::norm_gain]});
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
        io::hf_naming::bert_pretraining, dropout > 0 ? "encoder with dropout" : "encoder");
  }
}

TEST_CASE("decoder: causal LM loss gradient, padded batch", "[gradcheck][decoder]") {
  for (float dropout : {0.0f, 0.1f}) {
    using model_t = models::decoder<dec_cfg, f64>;
    auto m = std::make_unique<model_t>(2, 10);
    randomize(*m, 41);
    const auto& L = model_t::layout;
    gains_near_one(*m, {L.blocks[0][autodidact::models::block_module::ln1_gain], L.blocks[0][autodidact::models::block_module::ln2_gain], L.blocks[1][autodidact::models::block_module::ln1_gain],
                        L.blocks[1][autodidact::models::block_module::ln2_gain], L.final_norm[autodidact::models::final_norm_module::gain]});
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
        io::hf_naming::gpt2_lm, dropout > 0 ? "decoder with dropout" : "decoder");
  }
}

// Factorised embeddings (ELECTRA): E-wide embeddings, their LayerNorm, the
// projection E -> C and the MLM head's C -> E, narrower and wider than C.
template <int E>
constexpr model_config electra_cfg = [] {
  model_config c = enc_cfg;
  c.pooler = false;
  c.embedding_size = E;
  return c;
}();

TEMPLATE_TEST_CASE_SIG("encoder with factorised embeddings: MLM loss gradient", "[gradcheck][encoder]", ((int E), E), 7,
                       17) {
  for (float dropout : {0.0f, 0.15f}) {
    using model_t = models::encoder<electra_cfg<E>, f64>;
    static_assert(model_t::layout.embedding_projection.present);
    auto m = std::make_unique<model_t>(2, 9);
    randomize(*m, 42);
    all_gains_near_one(*m);
    std::vector<std::int32_t> ids{2, 5, 9, 4, 11, 3, 7, 8, 3, 2, 6, 6, 3, 14, 15, 3, 0, 0};
    std::vector<std::int32_t> segs{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0};
    std::vector<std::int32_t> lengths{9, 7}, labels(18, -100);
    labels[3] = 10;
    labels[4] = 12;
    labels[11] = 1;
    m->set_dropout({.hidden = dropout, .attention = dropout, .seed = 79});
    m->set_training(true);
    m->set_step(3);
    const models::batch_input in{ids, segs, lengths, 2, 9};
    check_model_gradients(
        *m,
        [&] {
          m->forward(in);
          return static_cast<double>(m->pretraining_loss(labels));
        },
        io::hf_naming::electra_generator, "electra E=" + std::to_string(E) + (dropout > 0 ? " with dropout" : ""));
  }
}

TEST_CASE("decoder with factorised embeddings and an untied head: causal LM loss gradient", "[gradcheck][decoder]") {
  constexpr model_config cfg = [] {
    model_config c = dec_cfg;
    c.embedding_size = 5;
    c.tied_lm_head = false;
    return c;
  }();
  using model_t = models::decoder<cfg, f64>;
  auto m = std::make_unique<model_t>(2, 10);
  randomize(*m, 43);
  all_gains_near_one(*m);
  std::vector<std::int32_t> ids{1, 5, 9, 4, 11, 3, 7, 8, 3, 2, 6, 6, 3, 14, 15, 3, 18, 18, 18, 18};
  std::vector<std::int32_t> labels = ids;
  for (int t = 6; t < 10; ++t) labels[static_cast<std::size_t>(10 + t)] = -100;
  std::vector<std::int32_t> lengths{10, 6};
  const models::batch_input in{ids, {}, lengths, 2, 10};
  check_model_gradients(
      *m,
      [&] {
        m->forward(in);
        return static_cast<double>(m->clm_loss(labels));
      },
      io::hf_naming::gpt2_lm, "factorised decoder");
}

TEST_CASE("a frozen prefix gets no gradient and the rest stays exact", "[gradcheck][policy]") {
  constexpr models::training_policy frozen{.freeze_embeddings = true, .frozen_layers = 1};
  using model_t = models::encoder<enc_cfg, f64, frozen>;
  using full_t = models::encoder<enc_cfg, f64>;
  static_assert(model_t::plan::gradient_elements < full_t::plan::gradient_elements);
  auto m = std::make_unique<model_t>(2, 6);
  auto full = std::make_unique<full_t>(2, 6);
  randomize(*m, 42);
  const auto& L = model_t::layout;
  gains_near_one(*m, {L.embeddings[autodidact::models::embeddings_module::norm_gain], L.blocks[0][autodidact::models::block_module::ln1_gain], L.blocks[0][autodidact::models::block_module::ln2_gain], L.blocks[1][autodidact::models::block_module::ln1_gain],
                      L.blocks[1][autodidact::models::block_module::ln2_gain], L.template head<autodidact::heads::mlm_head>()[autodidact::heads::mlm_head::norm_gain]});
  std::copy(m->parameters().begin(), m->parameters().end(), full->parameters().begin());
  std::vector<std::int32_t> ids{2, 5, 9, 3, 7, 3, 2, 6, 3, 14, 3, 0}, labels(12, -100), nsp{1, 0};
  labels[2] = 4;
  labels[7] = 8;
  const models::batch_input in{ids, {}, {}, 2, 6};
  auto frozen_loss = [&] {
    m->forward(in);
    return static_cast<double>(m->pretraining_loss(labels, nsp));
  };
  m->zero_gradients();
  frozen_loss();
  m->backward();
  full->zero_gradients();
  full->forward(in);
  full->pretraining_loss(labels, nsp);
  full->backward();

  // No gradient storage for the frozen prefix (embeddings and block 0) ...
  const std::size_t offset = model_t::plan::first_trainable;
  REQUIRE(offset == L.blocks[1][autodidact::models::block_module::ln1_gain]);
  REQUIRE(m->gradients().size() == full->gradients().size() - offset);
  // ... and the trainable suffix of the full model's gradient equals the
  // frozen model's.
  double err = 0;
  for (std::size_t i = 0; i < m->gradients().size(); ++i) {
    const double d = std::abs(m->gradients()[i] - full->gradients()[offset + i]);
    err = std::isfinite(d) ? std::max(err, d) : HUGE_VAL;
  }
  INFO("max |frozen model's gradient - full model's| " << err);
  CHECK(err < 1e-12);

  // The frozen model's trainable gradient is exact (finite differences of
  // the frozen model itself, every trainable tensor).
  std::vector<double> analytic(m->parameters().size(), 0.0);
  std::copy(m->gradients().begin(), m->gradients().end(), analytic.begin() + static_cast<std::ptrdiff_t>(offset));
  std::vector<double> full_grad(full->gradients().begin(), full->gradients().end());  // full_t's first_trainable is 0
  REQUIRE(full_grad.size() == analytic.size());
  const double floor = 1e-3 * largest(full_grad);
  int trainable = 0, frozen_tensors = 0;
  for (const tensor_entry& t : parameter_tensors<model_t>(io::hf_naming::bert_pretraining)) {
    double* x = m->parameters().data() + t.offset;
    if (t.offset >= offset) {
      gradcheck::check("frozen model, trainable " + t.name, x, t.count, analytic.data() + t.offset, frozen_loss,
                       per_tensor_samples, 1e-5, 2e-6, floor);
      ++trainable;
      continue;
    }
    // A frozen tensor: the loss does depend on it (the frozen model's finite
    // differences equal the full model's analytic gradient, at spread
    // elements and at the element of largest gradient, which is not zero);
    // only its gradient is not kept.
    ++frozen_tensors;
    CHECK(m->gradient_at(t.offset) == nullptr);
    const double* g = full_grad.data() + t.offset;
    std::size_t top = 0;
    for (std::size_t i = 1; i < t.count; ++i)
      if (std::abs(g[i]) > std::abs(g[top])) top = i;
    std::vector<std::size_t> at = gradcheck::spread_indices(t.count, per_tensor_samples);
    at.push_back(top);
    gradcheck::check_indices("frozen model, frozen " + t.name, x, t.count, g, frozen_loss, at, 1e-5, 2e-6, floor);
    // BERT's key bias is the one tensor whose gradient is zero in exact
    // arithmetic (softmax ignores a per-query constant).
    if (t.name.find("attention.self.key.bias") == std::string::npos) {
      const double saved = x[top];
      x[top] = saved + 1e-5;
      const double up = frozen_loss();
      x[top] = saved - 1e-5;
      const double down = frozen_loss();
      x[top] = saved;
      const double numeric = (up - down) / 2e-5;
      INFO("frozen " << t.name << ": finite difference at element " << top << " = " << numeric
                     << " (full model's gradient " << g[top] << ", largest gradient " << floor * 1e3 << ")");
      CHECK(std::abs(numeric) > floor);
    }
  }
  CHECK(trainable > 0);
  CHECK(frozen_tensors == 5 + 16);  // the embeddings' five tensors and block 0's sixteen
}

}  // namespace models_models_gradcheck_tests
