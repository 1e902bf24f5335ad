// Several std::threads, each with its own model, sharing read-only weights
// and a read-only generator: results equal the single-threaded ones bit for
// bit, and ThreadSanitizer sees no race.
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
