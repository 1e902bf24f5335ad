// forward and backward make no heap allocation after setup: global operator
// new is counted while a second training step runs (the first one warms up
// the OpenMP runtime, which allocates its thread pool once).
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>

// The replacements pair malloc/aligned_alloc with free, which GCC cannot
// see through.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

using namespace autodidact;

TEST_CASE("encoder: a training step allocates nothing", "[alloc]") {
  auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(4, 32);
  optim::adamw<float> opt(m->gradients().size(), {});
  std::vector<std::int32_t> ids(4 * 32, 7), labels(4 * 32, -100), nsp{0, 1, 0, 1}, lengths{32, 20, 9, 1};
  labels[5] = 3;
  const std::vector<std::int32_t> two_lengths{32, 20};
  m->set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = 1});
  m->set_training(true);
  const models::batch_input in{ids, {}, lengths, 4, 32};
  auto step = [&] {
    m->zero_gradients();
    m->forward(in);
    m->pretraining_loss(labels, nsp);
    m->backward();
    opt.step(m->trainable_parameters(), m->gradients(), 1.0);
  };
  step();
  const long before = allocations.load();
  step();
  m->forward({std::span(ids).first(64), {}, two_lengths, 2, 32});  // a smaller batch reuses the arenas
  CHECK(allocations.load() - before == 0);
}

TEST_CASE("decoder: a training step allocates nothing", "[alloc]") {
  auto m = std::make_unique<models::decoder<tiny_decoder, f32>>(2, 48);
  optim::adamw<float> opt(m->gradients().size(), {});
  std::vector<std::int32_t> ids(2 * 48, 9);
  const models::batch_input in{ids, {}, {}, 2, 48};
  auto step = [&] {
    m->zero_gradients();
    m->forward(in);
    m->clm_loss(ids);
    m->backward();
    opt.step(m->trainable_parameters(), m->gradients());
  };
  step();
  const long before = allocations.load();
  step();
  CHECK(allocations.load() - before == 0);
}
