// Several std::threads sharing one const model (each with its own
// workspace), or each with its own model, and a read-only generator: results
// equal the single-threaded ones bit for bit, the shared model is not
// written, and ThreadSanitizer sees no race.
#include <catch2/catch.hpp>

#include <autodidact/core/rng.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

using namespace autodidact;

namespace {

constexpr model_config small{.vocab = 50,
                             .max_positions = 16,
                             .d_model = 32,
                             .heads = 4,
                             .d_ff = 48,
                             .layers = 2,
                             .type_vocab = 2,
                             .layer_norm_eps = 1e-12,
                             .gelu = gelu_kind::erf,
                             .norm = norm_placement::post,
                             .tied_lm_head = true,
                             .pooler = true};
using model_t = models::encoder<small, f32>;

std::vector<float> shared_weights() {
  std::vector<float> w(model_t::plan::parameter_elements);
  const philox_rng rng(1, rng_stream::init);
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = 0.1f * static_cast<float>(rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  return w;
}

// One training step from the shared weights; returns the updated weights.
std::vector<float> train_step(const std::vector<float>& weights, int seed) {
  auto m = std::make_unique<model_t>(2, 16);
  std::copy(weights.begin(), weights.end(), m->parameters().begin());
  std::vector<std::int32_t> ids(32), labels(32, -100), nsp{0, 1}, lengths{16, 9};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 7 + seed) % 50;
  labels[3] = 4;
  labels[20] = 9;
  m->set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = static_cast<std::uint64_t>(seed)});
  m->set_training(true);
  optim::adamw<float> opt(m->gradients().size(), {});
  m->zero_gradients();
  m->forward({ids, {}, lengths, 2, 16});
  m->pretraining_loss(labels, nsp);
  m->backward();
  opt.step(m->trainable_parameters(), m->gradients(), 1.0);
  return {m->parameters().begin(), m->parameters().end()};
}

}  // namespace

TEST_CASE("independent models train concurrently with results equal to serial runs", "[concurrency]") {
  const std::vector<float> weights = shared_weights();
  const int workers = 4;
  std::vector<std::vector<float>> serial(workers), parallel(workers);
  for (int i = 0; i < workers; ++i) serial[static_cast<std::size_t>(i)] = train_step(weights, i);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&, i] { parallel[static_cast<std::size_t>(i)] = train_step(weights, i); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < workers; ++i)
    CHECK(serial[static_cast<std::size_t>(i)] == parallel[static_cast<std::size_t>(i)]);
  CHECK(serial[0] != serial[1]);  // different seeds and inputs give different weights
}

namespace {

// What one pass through a shared encoder produced.
struct encoder_result {
  std::vector<float> hidden, logits, gradients;
  float loss = 0;
  friend bool operator==(const encoder_result&, const encoder_result&) = default;
};

// forward, MLM logits, loss and backward of batch `seed` in workspace `ws`
// of the const model, with dropout keyed by the seed.
encoder_result encoder_pass(const model_t& model, model_t::workspace_type& ws, int seed) {
  std::vector<std::int32_t> ids(32), labels(32, -100), nsp{seed % 2, 1 - seed % 2}, lengths{16, 5 + seed % 11};
  for (int i = 0; i < 32; ++i) ids[static_cast<std::size_t>(i)] = (i * 11 + 3 * seed) % 50;
  labels[static_cast<std::size_t>(seed % 16)] = 7;
  labels[20] = seed % 50;
  ws.set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = static_cast<std::uint64_t>(seed)});
  ws.set_training(true);
  ws.zero_gradients();
  model.forward(ws, {ids, {}, lengths, 2, 16});
  encoder_result r;
  const auto h = model.hidden(ws);
  r.hidden.assign(h.data(), h.data() + h.size());
  const auto l = model.mlm_logits(ws);
  r.logits.assign(l.data(), l.data() + l.size());
  r.loss = model.pretraining_loss(ws, labels, nsp);
  model.backward(ws);
  r.gradients.assign(ws.gradients().begin(), ws.gradients().end());
  return r;
}

constexpr model_config small_causal{.vocab = 40,
                                    .max_positions = 16,
                                    .d_model = 32,
                                    .heads = 2,
                                    .d_ff = 64,
                                    .layers = 2,
                                    .layer_norm_eps = 1e-5,
                                    .gelu = gelu_kind::tanh,
                                    .norm = norm_placement::pre,
                                    .tied_lm_head = true,
                                    .pooler = false,
                                    .attention = attention_kind::causal,
                                    .embedding_norm = false,
                                    .final_norm = true};
using decoder_t = models::decoder<small_causal, f32, models::inference_only>;

std::vector<float> decoder_hidden(const decoder_t& model, decoder_t::workspace_type& ws, int seed) {
  std::vector<std::int32_t> ids(3 * 12);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 5 + 7 * seed) % 40);
  model.forward(ws, {ids, {}, {}, 3, 12});
  const auto h = model.hidden(ws);
  return {h.data(), h.data() + h.size()};
}

}  // namespace

TEST_CASE("threads share one const encoder, each with its own workspace", "[concurrency]") {
  auto owner = std::make_unique<model_t>(1, 1, models::init_options{.seed = 5});
  const bool packed = GENERATE(false, true);
  if (packed) owner->pack_weights();
  const model_t& model = *owner;  // from here on only read
  const std::vector<float> before(model.parameters().begin(), model.parameters().end());
  const int workers = 4, passes = 3;
  // Serial: one workspace, one pass after the other.
  std::vector<encoder_result> serial(workers * passes), parallel(workers * passes);
  {
    model_t::workspace_type ws(2, 16);
    for (int i = 0; i < workers * passes; ++i) serial[static_cast<std::size_t>(i)] = encoder_pass(model, ws, i);
  }
  std::latch go(workers);
  std::vector<std::thread> threads;
  for (int t = 0; t < workers; ++t) {
    threads.emplace_back([&, t] {
      model_t::workspace_type ws(2, 16);
      go.arrive_and_wait();
      for (int p = 0; p < passes; ++p)
        parallel[static_cast<std::size_t>(t * passes + p)] = encoder_pass(model, ws, t * passes + p);
    });
  }
  for (auto& t : threads) t.join();
  INFO("packed weights: " << packed);
  for (int i = 0; i < workers * passes; ++i) {
    INFO("pass " << i);
    const auto& s = serial[static_cast<std::size_t>(i)];
    const auto& p = parallel[static_cast<std::size_t>(i)];
    CHECK(s.hidden == p.hidden);
    CHECK(s.logits == p.logits);
    CHECK(s.loss == p.loss);
    CHECK(s.gradients == p.gradients);
  }
  CHECK(serial[0].loss != serial[1].loss);  // the passes really differ
  const bool unchanged = std::equal(before.begin(), before.end(), model.parameters().begin());
  CHECK(unchanged);
  CHECK(model.packed_weights_fresh() == packed);
  // The model's own workspace was never touched.
  CHECK(model.own_workspace().batch() == 0);
}

TEST_CASE("threads share one const inference decoder", "[concurrency]") {
  auto owner = std::make_unique<decoder_t>(1, 1, models::init_options{.seed = 9});
  owner->pack_weights();
  const decoder_t& model = *owner;
  const int workers = 3;
  std::vector<std::vector<float>> serial(workers), parallel(workers);
  {
    decoder_t::workspace_type ws(3, 12);
    for (int i = 0; i < workers; ++i) serial[static_cast<std::size_t>(i)] = decoder_hidden(model, ws, i);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < workers; ++t) {
    threads.emplace_back([&, t] {
      decoder_t::workspace_type ws(3, 12);
      for (int rep = 0; rep < 4; ++rep) parallel[static_cast<std::size_t>(t)] = decoder_hidden(model, ws, t);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < workers; ++i) CHECK(serial[static_cast<std::size_t>(i)] == parallel[static_cast<std::size_t>(i)]);
  CHECK(serial[0] != serial[1]);
}

TEST_CASE("a shared generator is a pure function: concurrent draws equal serial ones", "[concurrency]") {
  // Two threads released together by a latch draw 2^21 blocks each (several
  // ms) from one shared generator; each records when it started and ended,
  // and the two intervals must overlap, so the draws really ran at once.
  const philox_rng rng(77, rng_stream::masking);
  constexpr std::uint32_t per_thread = 1u << 21, total = 2 * per_thread;
  std::vector<float> serial(total), parallel(total);
  for (std::uint32_t i = 0; i < total; ++i) serial[i] = rng.uniform4(1, i)[i & 3];
  using clock = std::chrono::steady_clock;
  std::array<clock::time_point, 2> start{}, end{};
  std::latch go(3);
  auto work = [&](int t) {
    go.arrive_and_wait();
    start[static_cast<std::size_t>(t)] = clock::now();
    for (std::uint32_t i = t * per_thread; i < (t + 1) * per_thread; ++i) parallel[i] = rng.uniform4(1, i)[i & 3];
    end[static_cast<std::size_t>(t)] = clock::now();
  };
  std::thread a(work, 0), b(work, 1);
  go.arrive_and_wait();
  a.join();
  b.join();
  const bool equal = serial == parallel;  // (not CHECK(a == b): Catch would print 4M floats)
  CHECK(equal);
  using ms = std::chrono::duration<double, std::milli>;
  INFO("thread 0 ran " << ms(end[0] - start[0]).count() << " ms, thread 1 " << ms(end[1] - start[1]).count()
                       << " ms, starts " << ms(start[1] - start[0]).count() << " ms apart");
  CHECK(start[0] < end[1]);
  CHECK(start[1] < end[0]);
}
