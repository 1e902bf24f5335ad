// forward and backward make no heap allocation after setup. Every way into
// the heap is counted while a second training step runs (the first one warms
// up the OpenMP runtime, which allocates its thread pool once): global
// operator new (all forms) and the C allocator — malloc, calloc, realloc,
// aligned_alloc, posix_memalign, memalign, valloc, pvalloc. The C functions
// are replaced in this executable and forward to glibc's own allocator
// (__libc_malloc, __libc_memalign, ...), so a malloc anywhere in the process
// is seen. Counting is on only inside the measured window (a flag), so
// Catch2's own bookkeeping does not count.
//
// Allocations whose caller is inside libgomp are counted apart, so that a
// failure says where they come from: GCC's libgomp allocates a team
// (memalign, then free) for every parallel region that runs on one thread —
// an `if (false)` clause, OMP_NUM_THREADS=1, or a region nested in another —
// which is why the library's loops go through kernels::detail::parallel_for
// and never enter such a region. They fail the test like any other. Each
// step runs on 1 and on 2 OpenMP threads.
//
// Only built without sanitizers (tests/models/CMakeLists.txt): ASan replaces
// the same functions.
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/optim/adamw.hpp>

#include <cstddef>
#include <new>

#include "../support/allocation_counter.hpp"

namespace models_no_allocation_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

// The counter itself must see each kind of allocation (a replacement that
// the linker did not pick up would make every test below pass vacuously).
// Called through volatile pointers so the compiler cannot elide the calls.
TEST_CASE("the allocation counter sees new, malloc, calloc, realloc and the aligned forms", "[alloc]") {
  void* (*volatile p_malloc)(std::size_t) = &std::malloc;
  void* (*volatile p_calloc)(std::size_t, std::size_t) = &std::calloc;
  void* (*volatile p_realloc)(void*, std::size_t) = &std::realloc;
  void* (*volatile p_aligned_alloc)(std::size_t, std::size_t) = &std::aligned_alloc;
  int (*volatile p_posix_memalign)(void**, std::size_t, std::size_t) = &posix_memalign;
  void* (*volatile p_memalign)(std::size_t, std::size_t) = &memalign;
  void* (*volatile p_valloc)(std::size_t) = &valloc;

  auto counted = [](auto&& f) {
    window w;
    f();
    return w.stop();
  };
  CHECK(counted([&] { std::free(p_malloc(100)); }) == 1);
  CHECK(counted([&] { std::free(p_calloc(10, 10)); }) == 1);
  CHECK(counted([&] {
          void* p = p_malloc(10);
          p = p_realloc(p, 1000);
          std::free(p);
        }) == 2);
  CHECK(counted([&] {
          void* p = p_aligned_alloc(64, 128);
          CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
          std::free(p);
        }) == 1);
  CHECK(counted([&] {
          void* p = nullptr;
          CHECK(p_posix_memalign(&p, 128, 100) == 0);
          CHECK(reinterpret_cast<std::uintptr_t>(p) % 128 == 0);
          std::free(p);
        }) == 1);
  CHECK(counted([&] { std::free(p_memalign(32, 64)); }) == 1);
  CHECK(counted([&] { std::free(p_valloc(64)); }) == 1);
  CHECK(counted([&] { delete new volatile int(3); }) == 1);
  CHECK(counted([&] {
          std::vector<double> v(1000);
          v[3] = 1;
        }) == 1);
  CHECK(counted([&] { (void)std::make_unique<std::string>(100, 'x'); }) == 2);  // the string, its buffer
  // strdup is inside glibc: its malloc goes through the replacement too.
  CHECK(counted([&] { std::free(strdup("a string of some length")); }) == 1);
#ifdef _OPENMP
  // The libgomp exception is found, and is libgomp only.
  CHECK(gomp_begin < gomp_end);
  CHECK((reinterpret_cast<std::uintptr_t>(p_malloc) < gomp_begin ||
         reinterpret_cast<std::uintptr_t>(p_malloc) >= gomp_end));
#endif
}

void set_threads([[maybe_unused]] int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

TEST_CASE("encoder: a training step allocates nothing", "[alloc]") {
  for (int threads : {1, 2}) {
    set_threads(threads);
    INFO("on " << threads << " OpenMP thread(s)");
    auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(4, 32);
    optim::adamw<float> opt(m->gradients().size(), {});
    std::vector<std::int32_t> ids(4 * 32, 7), labels(4 * 32, -100), nsp{0, 1, 0, 1}, lengths{32, 20, 9, 1};
    labels[5] = 3;
    const std::vector<std::int32_t> two_lengths{32, 20};
    m->set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = 1});
    m->set_training(true);
    const models::batch_input in{ids, {}, lengths, 4, 32};
    const models::batch_input smaller{std::span(ids).first(64), {}, two_lengths, 2, 32};
    auto step = [&] {
      m->zero_gradients();
      m->forward(in);
      m->pretraining_loss(labels, nsp);
      m->backward();
      opt.step(m->trainable_parameters(), m->gradients(), 1.0);
    };
    step();
    m->forward(smaller);
    window w;
    step();
    m->forward(smaller);  // a smaller batch reuses the arenas
    const long counted = w.stop();
    CHECK(counted == 0);
    INFO("libgomp allocated " << w.gomp() << " times (one-thread or nested parallel regions)");
    CHECK(w.gomp() == 0);
  }
  set_threads(2);
}

TEST_CASE("decoder: a training step allocates nothing", "[alloc]") {
  for (int threads : {1, 2}) {
    set_threads(threads);
    INFO("on " << threads << " OpenMP thread(s)");
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
    window w;
    step();
    const long counted = w.stop();
    CHECK(counted == 0);
    INFO("libgomp allocated " << w.gomp() << " times (one-thread or nested parallel regions)");
    CHECK(w.gomp() == 0);
  }
  set_threads(2);
}

// Storage as a policy (models/storage.hpp): a model whose arenas are inside
// the object (static_arenas) or in caller memory (borrowed_arenas) allocates
// nothing at all, construction included.
TEST_CASE("static and borrowed storage: construction, forward and backward allocate nothing", "[alloc]") {
  using fixed = models::encoder<tiny_encoder, f32, models::full_training, models::static_arenas<2, 16>>;
  using borrowed = models::encoder<tiny_encoder, f32, models::full_training, models::borrowed_arenas>;
  static fixed warm;  // the first forward warms up the OpenMP runtime
  alignas(64) static std::byte memory[borrowed::bytes_for(2, 16)];
  std::vector<std::int32_t> ids(2 * 16, 5), labels(2 * 16, 4), nsp{0, 1};
  const models::batch_input in{ids, {}, {}, 2, 16};
  warm.forward(in);
  // Placement into memory made before the window: the object is big.
  alignas(fixed) static std::byte room[sizeof(fixed)];
  for (int threads : {1, 2}) {
    set_threads(threads);
    INFO("on " << threads << " OpenMP thread(s)");
    window w;
    auto* m = new (room) fixed(models::init_options{.seed = 3});
    m->forward(in);
    m->pretraining_loss(labels, nsp);
    m->backward();
    m->~fixed();
    borrowed b(memory, 2, 16, models::init_options{.seed = 3});
    b.forward(in);
    const long counted = w.stop();
    CHECK(counted == 0);
    CHECK(w.gomp() == 0);
  }
  set_threads(2);
}

}  // namespace models_no_allocation_tests
