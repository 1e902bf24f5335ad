// Bad input to the models: clear errors naming the argument, expected vs actual.
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/core/rng.hpp>
#include <autodidact/models/encoder.hpp>

#include <cmath>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace models_model_errors_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using Catch::Contains;

TEST_CASE("models reject bad batches with a message naming the problem", "[errors]") {
  auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(2, 16);
  std::vector<std::int32_t> ids(2 * 16, 5);
  CHECK_THROWS_WITH(m->forward({ids, {}, {}, 3, 16}), Contains("batch = 3") && Contains("max_batch = 2"));
  std::vector<std::int32_t> long_ids(2 * 20, 5);
  CHECK_THROWS_WITH(m->forward({long_ids, {}, {}, 2, 20}),
                    Contains("sequence length 20") && Contains("max_seq = 16"));
  CHECK_THROWS_WITH(m->forward({ids, {}, {}, 2, 15}), Contains("ids holds 32 tokens") && Contains("= 30"));
  ids[17] = 97;
  CHECK_THROWS_WITH(m->forward({ids, {}, {}, 2, 16}),
                    Contains("token id 97") && Contains("position 1 of sequence 1") && Contains("[0, 97)"));
  ids[17] = 5;
  std::vector<std::int32_t> segs(32, 0);
  segs[3] = 2;
  CHECK_THROWS_WITH(m->forward({ids, segs, {}, 2, 16}), Contains("segment id 2"));
  std::vector<std::int32_t> lengths{16, 17};
  CHECK_THROWS_WITH(m->forward({ids, {}, lengths, 2, 16}), Contains("length 17 of sequence 1"));
  CHECK_THROWS_AS(m->forward({ids, {}, lengths, 2, 16}), autodidact::invalid_argument);
  m->forward({ids, {}, {}, 2, 16});
  std::vector<std::int32_t> labels(32, -100);
  labels[0] = 500;
  CHECK_THROWS_WITH(m->pretraining_loss(labels), Contains("target id 500"));
  CHECK_THROWS_WITH(m->pretraining_loss(std::vector<std::int32_t>(31, -100)),
                    Contains("mlm_labels holds 31"));
}

TEST_CASE("models reject set-up beyond the config", "[errors]") {
  using model_t = models::decoder<tiny_decoder, f32>;
  CHECK_THROWS_WITH(std::make_unique<model_t>(1, 49),
                    Contains("max_seq = 49") && Contains("max_positions = 48"));
  CHECK_THROWS_WITH(std::make_unique<model_t>(0, 8), Contains("max_batch = 0"));
  auto m = std::make_unique<model_t>(1, 8);
  CHECK_THROWS_WITH(m->set_dropout({.hidden = 1.0f}), Contains("hidden rate 1"));
}

TEST_CASE("an inference-only encoder computes the same hidden states in less memory", "[inference]") {
  using train_t = models::encoder<tiny_encoder, f32>;
  using infer_t = models::encoder<tiny_encoder, f32, models::inference_only>;
  static_assert(infer_t::plan::activation_bytes(4, 40) < train_t::plan::activation_bytes(4, 40) / 2);
  static_assert(infer_t::plan::gradient_bytes == 0);
  auto a = std::make_unique<train_t>(2, 16);
  auto b = std::make_unique<infer_t>(2, 16);
  const philox_rng rng(3, rng_stream::init);
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    a->parameters()[i] = b->parameters()[i] =
        0.1f * static_cast<float>(rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  }
  std::vector<std::int32_t> ids(32), lengths{16, 11};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 7) % 97;
  a->forward({ids, {}, lengths, 2, 16});
  b->forward({ids, {}, lengths, 2, 16});
  for (std::size_t i = 0; i < a->hidden().size(); ++i)
    REQUIRE(a->hidden().data()[i] == b->hidden().data()[i]);
  for (std::size_t i = 0; i < a->pooled().size(); ++i)
    REQUIRE(a->pooled().data()[i] == b->pooled().data()[i]);
  CHECK_THROWS_WITH(b->hidden_state(0), Contains("inference-only"));
}

namespace {
template <class M>
void fill_parameters(M& m, std::uint64_t seed) {
  const philox_rng rng(seed, rng_stream::init);
  auto p = m.parameters();
  for (std::size_t i = 0; i < p.size(); ++i)
    p[i] = 0.1f * static_cast<float>(rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
}
}  // namespace

TEST_CASE("packed weights give bitwise the same model and follow parameter changes", "[inference]") {
  using enc_t = models::encoder<tiny_encoder, f32>;
  using dec_t = models::decoder<tiny_decoder, f32>;
  std::vector<std::int32_t> ids(32), lengths{16, 11};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 7) % 97;
  std::vector<std::int32_t> labels(ids);
  {
    auto a = std::make_unique<enc_t>(2, 16), b = std::make_unique<enc_t>(2, 16);
    fill_parameters(*a, 5);
    fill_parameters(*b, 5);
    b->pack_weights();
    CHECK(b->packs_weights());
    CHECK_FALSE(a->packs_weights());
    for (int round = 0; round < 2; ++round) {
      a->forward({ids, {}, lengths, 2, 16});
      b->forward({ids, {}, lengths, 2, 16});
      CHECK(a->pretraining_loss(labels) == b->pretraining_loss(labels));  // MLM head packed too
      for (std::size_t i = 0; i < a->hidden().size(); ++i) REQUIRE(a->hidden().data()[i] == b->hidden().data()[i]);
      for (std::size_t i = 0; i < a->pooled().size(); ++i) REQUIRE(a->pooled().data()[i] == b->pooled().data()[i]);
      // A change through the mutable accessors reaches the packed copy.
      const std::size_t w = enc_t::layout.blocks[1][autodidact::models::block_module::ff1_weight] + 3;
      a->parameter_at(w)[0] += 0.5f;
      b->parameter_at(w)[0] += 0.5f;
    }
    // Writing through a span kept from before the last forward needs parameters_changed().
    auto kept = b->parameters();
    auto kept_a = a->parameters();
    b->forward({ids, {}, lengths, 2, 16});
    const std::size_t w = enc_t::layout.blocks[0][autodidact::models::block_module::qkv_weight] + 7;
    kept[w] += 0.25f;
    kept_a[w] += 0.25f;
    b->parameters_changed();
    a->forward({ids, {}, lengths, 2, 16});
    b->forward({ids, {}, lengths, 2, 16});
    for (std::size_t i = 0; i < a->hidden().size(); ++i) REQUIRE(a->hidden().data()[i] == b->hidden().data()[i]);
  }
  {
    auto a = std::make_unique<dec_t>(2, 16), b = std::make_unique<dec_t>(2, 16);
    fill_parameters(*a, 6);
    fill_parameters(*b, 6);
    b->pack_weights();
    a->forward({ids, {}, lengths, 2, 16});
    b->forward({ids, {}, lengths, 2, 16});
    CHECK(a->clm_loss(labels) == b->clm_loss(labels));
    const auto la = a->logits(), lb = b->logits();
    for (std::size_t i = 0; i < la.size(); ++i) REQUIRE(la.data()[i] == lb.data()[i]);
  }
}

namespace {
void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

// Forward (dropout on), loss and backward with `threads` threads; returns
// the last hidden state, the loss and every gradient, concatenated.
template <class Model>
std::vector<float> train_pass(int threads, bool pack) {
  set_threads(threads);
  constexpr int b = 4, t = 32;  // 128 rows: enough work for the forward team
  auto m = std::make_unique<Model>(b, t);
  fill_parameters(*m, 11);
  if (pack) m->pack_weights();
  m->set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = 3});
  m->set_training(true);
  m->set_step(2);
  std::vector<std::int32_t> ids(b * t), lengths{32, 29, 17, 32};
  for (int i = 0; i < b * t; ++i) ids[static_cast<std::size_t>(i)] = (i * 13 + 5) % Model::config.vocab;
  m->forward({ids, {}, lengths, b, t});
  std::vector<float> out(m->hidden().data(), m->hidden().data() + m->hidden().size());
  if constexpr (Model::config.norm == norm_placement::post) {
    std::vector<std::int32_t> labels(ids.size(), -100);
    for (std::size_t i = 0; i < labels.size(); i += 3) labels[i] = ids[i];
    out.push_back(m->pretraining_loss(labels));
  } else {
    out.push_back(m->clm_loss(ids));
  }
  m->backward();
  out.insert(out.end(), m->gradients().begin(), m->gradients().end());
  set_threads(2);
  return out;
}
}  // namespace

TEST_CASE("training passes are bitwise the same on 1 and 2 threads, packed or not", "[threads]") {
  using enc_t = models::encoder<tiny_encoder, f32>;
  using dec_t = models::decoder<tiny_decoder, f32>;
  const auto e1 = train_pass<enc_t>(1, false);
  CHECK(e1 == train_pass<enc_t>(2, false));
  CHECK(e1 == train_pass<enc_t>(2, true));
  const auto d1 = train_pass<dec_t>(1, false);
  CHECK(d1 == train_pass<dec_t>(2, false));
  CHECK(d1 == train_pass<dec_t>(2, true));
}

TEST_CASE("an inference-only encoder's forward team gives the 1-thread result", "[threads][inference]") {
  using infer_t = models::encoder<tiny_encoder, f32, models::inference_only>;
  constexpr int b = 4, t = 40;  // 160 rows: a forward team of 2
  std::vector<std::int32_t> ids(b * t), lengths{40, 31, 9, 33};
  for (int i = 0; i < b * t; ++i) ids[static_cast<std::size_t>(i)] = (i * 17 + 1) % 97;
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2}) {
    set_threads(threads);
    auto m = std::make_unique<infer_t>(b, t);
    fill_parameters(*m, 12);
    m->pack_weights();
    m->forward({ids, {}, lengths, b, t});
    results.emplace_back(m->hidden().data(), m->hidden().data() + m->hidden().size());
    results.back().insert(results.back().end(), m->pooled().data(), m->pooled().data() + m->pooled().size());
  }
  set_threads(2);
  CHECK(results[0] == results[1]);
}

TEST_CASE("the MLM head on the labelled rows gives the all-position loss and gradients", "[mlm]") {
  using model_t = models::encoder<tiny_encoder, f64>;
  auto m = std::make_unique<model_t>(2, 16, models::init_options{.seed = 11, .initializer_range = 0.2});
  std::vector<std::int32_t> ids(32), labels(32, -100), nsp{1, 0}, lengths{16, 11};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 17 + 5) % 97;
  for (int i : {1, 4, 5, 9, 18, 20, 26}) labels[static_cast<std::size_t>(i)] = (i * 31) % 97;
  const models::batch_input in{ids, {}, lengths, 2, 16};
  // One step: loss and gradients, with mlm_logits() read between the loss
  // and backward or not (it reuses the head's memory: backward runs the
  // gathered rows again).
  auto step = [&](heads::mlm_rows rows, bool read_logits, std::span<const std::int32_t> mlm) {
    m->zero_gradients();
    m->forward(in);
    const double loss = m->pretraining_loss(mlm, nsp, rows);
    if (read_logits) (void)m->mlm_logits();
    m->backward();
    return std::pair{loss, std::vector<double>(m->gradients().begin(), m->gradients().end())};
  };
  const auto all = step(heads::mlm_rows::all, false, labels);
  const auto sparse = step(heads::mlm_rows::labelled, false, labels);
  const auto sparse_read = step(heads::mlm_rows::labelled, true, labels);
  CHECK(sparse.first == Approx(all.first).epsilon(1e-13));
  double largest = 0, worst = 0;
  for (std::size_t i = 0; i < all.second.size(); ++i) {
    largest = std::max(largest, std::abs(all.second[i]));
    worst = std::max(worst, std::abs(all.second[i] - sparse.second[i]));
  }
  INFO("largest gradient " << largest << ", largest difference " << worst);
  CHECK(largest > 1e-3);
  CHECK(worst <= 1e-13 * largest);
  CHECK(sparse_read.first == sparse.first);
  CHECK(sparse_read.second == sparse.second);  // the rows run again give the same bits
  // No labelled token: the MLM loss is 0 and only NSP's gradient flows.
  const std::vector<std::int32_t> none(32, -100);
  const auto empty_all = step(heads::mlm_rows::all, false, none);
  const auto empty_sparse = step(heads::mlm_rows::labelled, false, none);
  CHECK(m->mlm_loss() == 0.0);
  CHECK(empty_sparse.first == Approx(empty_all.first).epsilon(1e-13));
  for (std::size_t i = 0; i < empty_all.second.size(); ++i)
    REQUIRE(empty_sparse.second[i] == Approx(empty_all.second[i]).margin(1e-15));
  // A label outside the vocabulary is refused, naming it.
  auto bad = labels;
  bad[7] = 97;
  m->forward(in);
  CHECK_THROWS_WITH(m->pretraining_loss(bad, nsp), Catch::Contains("97"));
}

TEST_CASE("the sampled softmax: all tokens with log pi = 0 is the full head; its gradient; its errors", "[mlm]") {
  using model_t = models::encoder<tiny_encoder, f64>;
  constexpr int V = tiny_encoder.vocab, E = tiny_encoder.d_model;
  auto m = std::make_unique<model_t>(2, 16, models::init_options{.seed = 11, .initializer_range = 0.2});
  std::vector<std::int32_t> ids(32), labels(32, -100), lengths{16, 11};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 17 + 5) % V;
  for (int i : {1, 4, 5, 9, 18, 20, 26}) labels[static_cast<std::size_t>(i)] = (i * 31) % V;
  labels[3] = labels[4];  // a label twice
  const models::batch_input in{ids, {}, lengths, 2, 16};
  std::vector<double> counts(V);
  for (int i = 0; i < V; ++i) counts[static_cast<std::size_t>(i)] = 1000.0 / (1 + i);
  heads::sampled_softmax<double> s({.negatives = 20, .seed = 3}, counts, 32, E);
  auto grads = [&]() { return std::vector<double>(m->gradients().begin(), m->gradients().end()); };
  // Every token a candidate (in a shuffled order), log pi = 0: the full head.
  std::vector<std::int32_t> all(V);
  for (int i = 0; i < V; ++i) all[static_cast<std::size_t>(i)] = (i * 37 + 11) % V;
  const std::vector<double> zeros(V, 0.0);
  s.set_candidates(labels, all, zeros);
  m->zero_gradients();
  m->forward(in);
  const double full = m->pretraining_loss(labels);
  m->backward();
  const auto g_full = grads();
  m->zero_gradients();
  m->forward(in);
  const double sampled = m->pretraining_loss(labels, s);
  (void)m->mlm_logits();  // reuses the head's memory: backward runs the rows again
  m->backward();
  const auto g_sampled = grads();
  CHECK(sampled == Approx(full).epsilon(1e-13));
  double largest = 0, worst = 0;
  for (std::size_t i = 0; i < g_full.size(); ++i) {
    largest = std::max(largest, std::abs(g_full[i]));
    worst = std::max(worst, std::abs(g_full[i] - g_sampled[i]));
  }
  INFO("largest gradient " << largest << ", largest difference " << worst);
  CHECK(largest > 1e-3);
  CHECK(worst <= 1e-13 * largest);

  // Drawn candidates: the distinct labels first, then draws; log pi < 0, and
  // about 0 for the frequent tokens. The loss's gradient against central
  // differences, on parameters of every part it touches.
  s.draw(labels, 0, 7);
  CHECK(s.rows() == 8);
  CHECK(s.size() > 7);
  CHECK(s.size() < V);
  for (int r = 0; r < s.rows(); ++r) CHECK(s.targets()[r] < 7);  // 7 distinct labels, in order
  for (double lp : s.log_pi()) CHECK(lp <= 0.0);
  auto loss = [&] {
    m->forward(in);
    return m->pretraining_loss(labels, s);
  };
  m->zero_gradients();
  (void)loss();
  m->backward();
  const auto g = grads();
  const auto p = m->parameters();
  const std::size_t emb = model_t::layout.embeddings[models::embeddings_module::token];
  const std::size_t cand = static_cast<std::size_t>(s.candidates()[static_cast<std::size_t>(s.size() - 1)]);
  const auto head = model_t::layout.template head<heads::mlm_head>();
  std::vector<std::size_t> probe{emb + cand * E + 3,
                                 emb + static_cast<std::size_t>(labels[1]) * E + 5,
                                 head[heads::mlm_head::output_bias] + cand,
                                 head[heads::mlm_head::output_bias] + static_cast<std::size_t>(labels[9]),
                                 head[heads::mlm_head::dense_weight] + 17,
                                 head[heads::mlm_head::norm_gain] + 2,
                                 model_t::layout.embeddings[models::embeddings_module::position] + 3 * E + 1};
  int nonzero = 0;
  for (std::size_t at : probe) {
    const double keep = p[at], h = 1e-6;
    m->parameters()[at] = keep + h;
    const double up = loss();
    m->parameters()[at] = keep - h;
    const double down = loss();
    m->parameters()[at] = keep;
    const double fd = (up - down) / (2 * h);
    INFO("parameter " << at << ": backward " << g[at] << ", central difference " << fd);
    CHECK(g[at] == Approx(fd).epsilon(1e-6).margin(1e-9));
    nonzero += std::abs(g[at]) > 1e-6;
  }
  CHECK(nonzero >= 4);

  // Errors: other labels than the draw's, a sampler for another vocabulary.
  auto other = labels;
  other[1] = (labels[1] + 1) % V;
  m->forward(in);
  CHECK_THROWS_WITH(m->pretraining_loss(other, s), Contains("drawn for other labels"));
  heads::sampled_softmax<double> wrong({}, std::vector<double>(V + 1, 1.0), 32, E);
  wrong.draw(labels, 0, 0);
  CHECK_THROWS_WITH(m->pretraining_loss(labels, wrong), Contains("98 tokens"));
  CHECK_THROWS_WITH(s.set_candidates(labels, std::vector<std::int32_t>{1, 2}, std::vector<double>{0, 0}),
                    Contains("not among the candidates"));
  CHECK_THROWS_WITH((heads::sampled_softmax<double>({.negatives = -1}, counts, 32, E)), Contains("negatives = -1"));
}

TEST_CASE("sinusoidal_positions starts the position table as scaled sinusoids, the rest as the seed draws", "[init]") {
  using model_t = models::encoder<tiny_encoder, f64>;
  constexpr int E = tiny_encoder.d_model;
  auto plain = std::make_unique<model_t>(1, 8, models::init_options{.seed = 3});
  auto sine = std::make_unique<model_t>(1, 8, models::init_options{.seed = 3, .sinusoidal_positions = true});
  const std::size_t pos = model_t::layout.embeddings[models::embeddings_module::position];
  const std::size_t n = std::size_t(tiny_encoder.max_positions) * E;
  const auto a = plain->parameters(), b = sine->parameters();
  // Outside the position table: the same draws.
  for (std::size_t i = 0; i < a.size(); ++i)
    if (i < pos || i >= pos + n) REQUIRE(a[i] == b[i]);
  // Row 0 is (0, s, 0, s, ...), row p's pairs are (s sin(p f), s cos(p f)), s = 0.02 sqrt(2).
  const double s = 0.02 * std::sqrt(2.0);
  CHECK(b[pos + 0] == 0.0);
  CHECK(b[pos + 1] == Approx(s));
  const double f1 = std::pow(10000.0, -2.0 / E);
  CHECK(b[pos + 3 * E + 2] == Approx(s * std::sin(3 * f1)));
  CHECK(b[pos + 3 * E + 3] == Approx(s * std::cos(3 * f1)));
  double sq = 0;
  for (std::size_t i = 0; i < n; ++i) sq += b[pos + i] * b[pos + i];
  CHECK(std::sqrt(sq / double(n)) == Approx(0.02).epsilon(0.05));  // RMS = initializer_range
}

TEST_CASE("output_log_prior starts the MLM output bias as the centred prior, the rest as the seed draws", "[init]") {
  using model_t = models::encoder<tiny_encoder, f64>;
  constexpr std::size_t V = tiny_encoder.vocab;
  std::vector<double> prior(V);
  for (std::size_t i = 0; i < V; ++i) prior[i] = -0.5 * double(i) - 1.0;  // mean -0.5 (V - 1) / 2 - 1
  auto plain = std::make_unique<model_t>(1, 8, models::init_options{.seed = 3});
  auto with = std::make_unique<model_t>(1, 8, models::init_options{.seed = 3, .output_log_prior = prior});
  const std::size_t bias = model_t::layout.head<heads::mlm_head>()[heads::mlm_head::output_bias];
  const auto a = plain->parameters(), b = with->parameters();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (i < bias || i >= bias + V) REQUIRE(a[i] == b[i]);
  const double mean = -0.25 * double(V - 1) - 1.0;
  for (std::size_t i = 0; i < V; ++i) CHECK(b[bias + i] == Approx(prior[i] - mean).margin(1e-12));
  CHECK(b[bias] > 0.0);          // the most likely token above the mean ...
  CHECK(b[bias + V - 1] < 0.0);  // ... the least likely below
  // The head now predicts the prior: at initialisation the hidden rows are
  // small (0.02 weights), so the logits are the bias, up to a small term.
  std::vector<std::int32_t> ids{2, 5, 7, 9}, labels{5, -100, -100, -100};
  with->forward({ids, {}, {}, 1, 4});
  const double loss = with->pretraining_loss(labels);
  plain->forward({ids, {}, {}, 1, 4});
  const double plain_loss = plain->pretraining_loss(labels);
  double log_z = 0;
  for (std::size_t i = 0; i < V; ++i) log_z += std::exp(prior[i]);
  log_z = std::log(log_z);
  CHECK(loss == Approx(log_z - prior[5]).margin(0.3));  // -log softmax(prior)[5] = 3.43
  CHECK(plain_loss == Approx(std::log(double(V))).margin(0.3));  // uniform: log 97 = 4.57

  std::vector<double> short_prior(V - 1, 0.0);
  CHECK_THROWS_WITH(model_t(1, 8, models::init_options{.output_log_prior = short_prior}),
                    Catch::Contains("output_log_prior holds " + std::to_string(V - 1)) &&
                        Catch::Contains(std::to_string(V)));
  prior[3] = std::nan("");
  CHECK_THROWS_WITH(model_t(1, 8, models::init_options{.output_log_prior = prior}),
                    Catch::Contains("output_log_prior[3]") && Catch::Contains("not finite"));
  using dec_t = models::decoder<tiny_decoder, f32>;
  std::vector<double> dec_prior(tiny_decoder.vocab, 0.0);
  CHECK_THROWS_WITH(dec_t(1, 8, models::init_options{.output_log_prior = dec_prior}), Catch::Contains("no MLM head"));
}

}  // namespace models_model_errors_tests
