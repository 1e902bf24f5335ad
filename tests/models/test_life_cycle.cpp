// The model life cycle: weights initialised at construction as Hugging
// Face's _init_weights does for the family (checked statistically per
// tensor, 5 sigma), zeros only when asked; every call out of order is an
// invalid_argument naming the expected order; logits never outlive their
// forward.
#include <catch2/catch.hpp>

#include <algorithm>  // for std::equal

#include <autodidact/io/hf_names.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace models_life_cycle_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using Catch::Contains;

namespace {

struct moments {
  double mean = 0, sd = 0;
  std::size_t n = 0;
};
template <class T>
moments moments_of(const T* p, std::size_t n) {
  double s = 0, s2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s += p[i];
    s2 += static_cast<double>(p[i]) * p[i];
  }
  const double mean = s / static_cast<double>(n);
  return {mean, std::sqrt(s2 / static_cast<double>(n) - mean * mean), n};
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Every tensor of the model's Hugging Face name map against the rule of
// its family: returns the number of tensors checked.
template <class Model>
int check_initialisation(const Model& m, io::hf_naming naming, bool gpt2) {
  using T = typename Model::T;
  constexpr double range = 0.02;
  int checked = 0;
  for (const auto& e : io::hf_parameter_map<Model::config>(Model::layout, naming)) {
    std::size_t n = 1;
    for (auto d : e.shape) n *= static_cast<std::size_t>(d);
    const T* p = m.parameters().data() + e.offset;
    INFO(e.name << " (" << n << " elements)");
    const bool gain = ends_with(e.name, "LayerNorm.weight") ||
                      (e.name.find("ln_") != std::string::npos && ends_with(e.name, ".weight"));
    const bool bias = !gain && (ends_with(e.name, ".bias") || e.name == "cls.predictions.bias");
    if (gain) {
      for (std::size_t i = 0; i < n; ++i) REQUIRE(p[i] == T(1));
    } else if (bias) {
      for (std::size_t i = 0; i < n; ++i) REQUIRE(p[i] == T(0));
    } else {
      // HF's c_proj.weight (attention output, second feed-forward matrix)
      // gets range / sqrt(2 L) in GPT-2; everything else the range.
      const bool residual = gpt2 && ends_with(e.name, "c_proj.weight");
      const double sd = residual ? range / std::sqrt(2.0 * Model::config.layers) : range;
      std::size_t skip = 0;
      if (!gpt2 && ends_with(e.name, "word_embeddings.weight")) {
        // BERT's padding row (token 0) is zero.
        const std::size_t c = static_cast<std::size_t>(Model::config.d_model);
        for (std::size_t i = 0; i < c; ++i) REQUIRE(p[i] == T(0));
        skip = c;
      }
      const moments mo = moments_of(p + skip, n - skip);
      const double k = static_cast<double>(mo.n);
      INFO("mean " << mo.mean << ", sd " << mo.sd << ", expected sd " << sd);
      CHECK(std::abs(mo.mean) < 5.0 * sd / std::sqrt(k));
      // sd of the sample sd of a normal: sd / sqrt(2 k)
      CHECK(std::abs(mo.sd - sd) < 5.0 * sd / std::sqrt(2.0 * k) + 1e-12);
    }
    ++checked;
  }
  return checked;
}

}  // namespace

TEST_CASE("a new encoder is initialised as BertForPreTraining's _init_weights", "[init]") {
  auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(1, 8);
  CHECK(check_initialisation(*m, io::hf_naming::bert_pretraining, false) >= 16 * tiny_encoder.layers);
  // Padding between tensors stays zero, so real_parameters are all there are.
  std::size_t nonzero = 0;
  for (float x : m->parameters()) nonzero += x != 0.0f;
  CHECK(nonzero <= decltype(m)::element_type::plan::parameters.real_parameters);
}

TEST_CASE("a new decoder is initialised as GPT2LMHeadModel's _init_weights", "[init]") {
  auto m = std::make_unique<models::decoder<tiny_decoder, f32>>(1, 8);
  CHECK(check_initialisation(*m, io::hf_naming::gpt2_lm, true) >= 12 * tiny_decoder.layers);
}

TEST_CASE("initialisation is seeded, and zeros only when asked", "[init]") {
  using model_t = models::decoder<tiny_decoder, f32>;
  auto a = std::make_unique<model_t>(1, 8);
  auto b = std::make_unique<model_t>(1, 8);
  auto c = std::make_unique<model_t>(1, 8, models::init_options{.seed = 1});
  auto z = std::make_unique<model_t>(1, 8, models::init_options{.zeros = true});
  CHECK(std::equal(a->parameters().begin(), a->parameters().end(), b->parameters().begin()));
  CHECK_FALSE(std::equal(a->parameters().begin(), a->parameters().end(), c->parameters().begin()));
  for (float x : z->parameters()) REQUIRE(x == 0.0f);
  // initialize() again gives the constructor's weights.
  c->initialize({});
  CHECK(std::equal(a->parameters().begin(), a->parameters().end(), c->parameters().begin()));
  CHECK_THROWS_WITH(c->initialize({.initializer_range = -1}), Contains("initializer_range = -1"));
}

TEST_CASE("a fresh model learns: its first gradients are not zero", "[init]") {
  auto m = std::make_unique<models::decoder<tiny_decoder, f32>>(2, 16);
  std::vector<std::int32_t> ids(32);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 7) % 101);
  m->forward({ids, {}, {}, 2, 16});
  m->clm_loss(ids);
  m->zero_gradients();
  m->backward();
  double sum = 0;
  for (float g : m->gradients()) sum += std::abs(g);
  CHECK(sum > 1e-3);
}

TEST_CASE("encoder: every call out of order names the expected order", "[life_cycle]") {
  auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(2, 16);
  std::vector<std::int32_t> ids(32, 5), labels(32, -100), nsp{0, 1};
  labels[3] = 7;
  const models::batch_input in{ids, {}, {}, 2, 16};
  const auto order = Contains("forward(), a loss, backward()");
  CHECK_THROWS_AS(m->backward(), invalid_argument);
  CHECK_THROWS_WITH(m->backward(), Contains("no forward() has run yet") && order);
  CHECK_THROWS_WITH(m->pretraining_loss(labels, nsp), Contains("no forward()"));
  CHECK_THROWS_WITH(m->hidden(), Contains("hidden: no forward()"));
  CHECK_THROWS_WITH(m->pooled(), Contains("pooled: no forward()"));
  CHECK_THROWS_WITH(m->mlm_logits(), Contains("mlm_logits: no forward()"));
  m->forward(in);
  CHECK_THROWS_WITH(m->backward(), Contains("call pretraining_loss() after forward() first") && order);
  // The heads' logits are lazy: available after forward, without labels,
  // and the loss uses the same ones.
  const auto early = m->mlm_logits();
  const std::vector<float> mlm_early(early.data(), early.data() + early.size());
  const auto nsp_view = m->nsp_logits();
  const std::vector<float> nsp_early(nsp_view.data(), nsp_view.data() + nsp_view.size());
  const float loss = m->pretraining_loss(labels, nsp);
  CHECK(std::isfinite(loss));
  CHECK(m->mlm_logits().size() == 32u * 97u);
  CHECK(std::equal(mlm_early.begin(), mlm_early.end(), m->mlm_logits().data()));
  m->backward();
  // A second backward would add the same gradients again.
  CHECK_THROWS_WITH(m->backward(), Contains("already ran for this forward()") && order);
  CHECK_THROWS_WITH(m->pretraining_loss(labels, nsp), Contains("backward() has run since the last forward()"));
  // backward overwrote the logits with their gradient: they are recomputed.
  CHECK(std::equal(nsp_early.begin(), nsp_early.end(), m->nsp_logits().data()));
  CHECK(std::equal(mlm_early.begin(), mlm_early.end(), m->mlm_logits().data()));
  CHECK_THROWS_WITH(m->begin_backward(), Contains("backward() already ran"));
  // The right order works again, and a failed call changed nothing.
  m->forward(in);
  CHECK(m->pretraining_loss(labels, nsp) == loss);
  m->backward();
}

TEST_CASE("decoder: calls out of order fail, logits never outlive their forward", "[life_cycle]") {
  auto m = std::make_unique<models::decoder<tiny_decoder, f32>>(2, 16);
  std::vector<std::int32_t> a(32), b(32);
  for (std::size_t i = 0; i < 32; ++i) {
    a[i] = static_cast<std::int32_t>(i % 101);
    b[i] = static_cast<std::int32_t>((i * 13 + 5) % 101);
  }
  CHECK_THROWS_WITH(m->logits(), Contains("logits: no forward()"));
  CHECK_THROWS_WITH(m->hidden(), Contains("hidden: no forward()"));
  CHECK_THROWS_WITH(m->clm_loss(a), Contains("clm_loss: no forward()"));
  CHECK_THROWS_WITH(m->backward(), Contains("no forward()"));
  m->forward({a, {}, {}, 2, 16});
  CHECK_THROWS_WITH(m->backward(), Contains("call clm_loss() after forward() first"));
  const auto la = m->logits();
  const std::vector<float> logits_a(la.data(), la.data() + la.size());
  // A second forward on other tokens: logits() must be the new batch's.
  m->forward({b, {}, {}, 2, 16});
  const auto lb = m->logits();
  const std::vector<float> logits_b(lb.data(), lb.data() + lb.size());
  CHECK(logits_a != logits_b);
  auto fresh = std::make_unique<models::decoder<tiny_decoder, f32>>(2, 16);
  fresh->forward({b, {}, {}, 2, 16});
  const auto lf = fresh->logits();
  CHECK(std::equal(lf.data(), lf.data() + lf.size(), logits_b.begin()));
  m->clm_loss(b);
  m->backward();
  CHECK_THROWS_WITH(m->backward(), Contains("already ran for this forward()"));
  CHECK_THROWS_WITH(m->clm_loss(b), Contains("backward() has run since the last forward()"));
  // After backward the logits buffer held gradients: logits() recomputes.
  const auto lr = m->logits();
  CHECK(std::equal(lr.data(), lr.data() + lr.size(), logits_b.begin()));
}

TEST_CASE("the life cycle is per workspace; a workspace's sizes bound its batches", "[life_cycle]") {
  using model_t = models::encoder<tiny_encoder, f32>;
  auto m = std::make_unique<model_t>(2, 4);  // its own workspace is small
  const model_t& shared = *m;
  auto a = std::make_unique<model_t::workspace_type>(2, 16);
  auto b = std::make_unique<model_t::workspace_type>(2, 8);
  std::vector<std::int32_t> ids(32, 5), labels(32, -100);
  labels[3] = 7;
  const models::batch_input in{ids, {}, {}, 2, 16};
  // A workspace bounds the batch, whatever the model's own one holds.
  CHECK_THROWS_WITH(m->forward(in), Contains("sequence length 16 must be in [1, max_seq = 4]"));
  CHECK_THROWS_WITH(shared.forward(*b, in), Contains("max_seq = 8") && Contains("workspace was set up"));
  shared.forward(*a, in);
  // Workspace b and the model's own have seen no forward.
  CHECK_THROWS_WITH(shared.hidden(*b), Contains("hidden: no forward()"));
  CHECK_THROWS_WITH(shared.backward(*b), Contains("no forward() has run yet"));
  CHECK_THROWS_WITH(m->hidden(), Contains("hidden: no forward()"));
  shared.pretraining_loss(*a, labels);
  shared.backward(*a);
  CHECK_THROWS_WITH(shared.backward(*a), Contains("already ran for this forward()"));
  // Gradients went to workspace a only.
  double in_a = 0, in_own = 0;
  for (float g : a->gradients()) in_a += std::abs(g);
  for (float g : m->gradients()) in_own += std::abs(g);
  CHECK(in_a > 1e-3);
  CHECK(in_own == 0);
  CHECK(a->gradients().size() == model_t::plan::gradient_elements);
  CHECK_THROWS_WITH(model_t::workspace_type(0, 4), Contains("max_batch = 0 must be at least 1"));
  CHECK_THROWS_WITH(model_t::workspace_type(1, tiny_encoder.max_positions + 1), Contains("max_positions"));
}

}  // namespace models_life_cycle_tests
