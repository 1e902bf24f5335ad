// Storage as a policy of the model type (models/storage.hpp): the same
// model with its arenas on the heap (the default), in caller memory
// (borrowed_arenas) or inside the object (static_arenas<B, T>) computes
// the same bits; borrowed memory that is too small or misaligned is refused
// with an error naming the sizes; a static model's byte budget is a
// compile-time constant.
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace models_storage_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using models::borrowed_arenas;
using models::static_arenas;

namespace {

constexpr int B = 3, S = 16;  // the largest batch the static models are sized for

template <models::arena_storage_policy Storage>
using train_encoder = models::encoder<tiny_encoder, f32, models::full_training, Storage>;
template <models::arena_storage_policy Storage>
using serve_encoder = models::encoder<tiny_encoder, f32, models::inference_only, Storage>;
template <models::arena_storage_policy Storage>
using train_decoder = models::decoder<tiny_decoder, f32, models::full_training, Storage>;

// ---- the byte budget, at compile time --------------------------------------

using static_server = serve_encoder<static_arenas<1, 32>>;
// The plan's figure: the parameters and one workspace, each arena aligned.
static_assert(static_server::bytes_for(1, 32) ==
              models::aligned_bytes(static_server::plan::parameter_bytes) +
                  static_server::plan::workspace_bytes(1, 32));
// sizeof the object is the budget: the arenas plus a few hundred bytes of
// bookkeeping (sizes, flags, the life-cycle state, the RNG).
static_assert(sizeof(static_server) >= static_server::bytes_for(1, 32));
static_assert(sizeof(static_server) <= static_server::bytes_for(1, 32) + 1024);
// tiny_encoder (97 x 80, 3 blocks of 80 / 136) serving one 32-token
// sequence fits in 1 MiB (0.65 MiB of weights, 0.22 MiB of workspace).
static_assert(sizeof(static_server) <= 1024 * 1024, "a tiny inference encoder fits in 1 MiB");
// An inference-only plan has no gradients: the static workspace holds none.
static_assert(static_server::plan::gradient_elements == 0);

// ---- inputs ------------------------------------------------------------------

struct batch {
  std::vector<std::int32_t> ids, segments, lengths, mlm_labels, nsp_labels;
  int b = 0, t = 0;
  models::batch_input input() const { return {ids, segments, lengths, b, t}; }
};

batch make_batch(int b, int t, int vocab) {
  batch x;
  x.b = b;
  x.t = t;
  for (int i = 0; i < b * t; ++i) {
    x.ids.push_back((i * 37 + 11) % vocab);
    x.segments.push_back(i % t < t / 2 ? 0 : 1);
    x.mlm_labels.push_back(i % 5 == 0 ? (i * 13 + 3) % vocab : -100);
  }
  for (int i = 0; i < b; ++i) {
    x.lengths.push_back(t - 3 * i);
    x.nsp_labels.push_back(i % 2);
  }
  return x;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
template <class View>
std::span<const float> flat(const View& v) {
  return {v.data(), v.size()};
}

// Aligned caller memory of n bytes (plus one spare line, to misalign on purpose).
struct caller_memory {
  explicit caller_memory(std::size_t n)
      : storage(new (std::align_val_t{64}) std::byte[n + 64]), bytes(storage.get(), n + 64) {}
  struct free_aligned {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte[], free_aligned> storage;
  std::span<std::byte> bytes;
  std::span<std::byte> first(std::size_t n) const { return bytes.first(n); }
};

// One training step of a model (forward, pretraining loss, backward) and
// a second forward; returns the loss.
template <class Model>
float train_step(Model& m, const batch& x) {
  m.set_dropout({.hidden = 0.1f, .attention = 0.1f, .seed = 5});
  m.set_training(true);
  m.set_step(3);
  m.forward(x.input());
  const float loss = m.pretraining_loss(x.mlm_labels, x.nsp_labels, heads::mlm_rows::all);
  m.backward();
  return loss;
}

}  // namespace

TEST_CASE("models_storage: a static-storage encoder computes the heap encoder's bits", "[storage]") {
  const models::init_options init{.seed = 42};
  auto heap = std::make_unique<train_encoder<models::heap_arenas>>(B, S, init);
  // Transformer-sized: on the heap here (a program would declare it static).
  auto fixed = std::make_unique<train_encoder<static_arenas<B, S>>>(init);
  CHECK(fixed->max_batch() == B);
  CHECK(fixed->max_seq() == S);
  REQUIRE(same_bits(heap->parameters(), fixed->parameters()));

  const batch x = make_batch(B, S, tiny_encoder.vocab);
  const float a = train_step(*heap, x), b = train_step(*fixed, x);
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  CHECK(same_bits(flat(heap->hidden()), flat(fixed->hidden())));
  CHECK(same_bits(flat(heap->pooled()), flat(fixed->pooled())));
  CHECK(same_bits(heap->gradients(), fixed->gradients()));

  // Inference: the same weights copied into a static inference-only model.
  auto server = std::make_unique<serve_encoder<static_arenas<B, S>>>(models::init_options{.zeros = true});
  auto heap_server = std::make_unique<serve_encoder<models::heap_arenas>>(B, S, models::init_options{.zeros = true});
  std::copy(heap->parameters().begin(), heap->parameters().end(), server->parameters().begin());
  std::copy(heap->parameters().begin(), heap->parameters().end(), heap_server->parameters().begin());
  heap_server->pack_weights();  // packed or not, the same bits
  const batch y = make_batch(2, 11, tiny_encoder.vocab);
  server->forward(y.input());
  heap_server->forward(y.input());
  CHECK(same_bits(flat(server->hidden()), flat(heap_server->hidden())));
  CHECK(same_bits(flat(server->pooled()), flat(heap_server->pooled())));
}

TEST_CASE("models_storage: a borrowed-storage model computes the heap model's bits", "[storage]") {
  const models::init_options init{.seed = 7};
  using borrowed = train_encoder<borrowed_arenas>;
  caller_memory memory(borrowed::bytes_for(B, S));
  borrowed m(memory.first(borrowed::bytes_for(B, S)), B, S, init);
  // The parameter arena is the start of the caller's block.
  CHECK(static_cast<const void*>(m.parameters().data()) == static_cast<const void*>(memory.bytes.data()));
  auto heap = std::make_unique<train_encoder<models::heap_arenas>>(B, S, init);
  const batch x = make_batch(B, S, tiny_encoder.vocab);
  const float a = train_step(*heap, x), b = train_step(m, x);
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  CHECK(same_bits(flat(heap->hidden()), flat(m.hidden())));
  CHECK(same_bits(heap->gradients(), m.gradients()));

  // A decoder too, with a workspace of its own in borrowed memory.
  using dec = train_decoder<borrowed_arenas>;
  caller_memory dmem(dec::bytes_for(2, 12));
  dec d(dmem.first(dec::bytes_for(2, 12)), 2, 12, init);
  auto dheap = std::make_unique<train_decoder<models::heap_arenas>>(2, 12, init);
  caller_memory wmem(dec::workspace_type::bytes_for(2, 12));
  dec::workspace_type ws(wmem.first(dec::workspace_type::bytes_for(2, 12)), 2, 12);
  const batch z = make_batch(2, 12, tiny_decoder.vocab);
  const models::batch_input in{z.ids, {}, z.lengths, 2, 12};
  d.forward(ws, in);
  dheap->forward(in);
  const float la = d.clm_loss(ws, z.ids), lb = dheap->clm_loss(z.ids);
  CHECK(std::memcmp(&la, &lb, sizeof la) == 0);
  d.backward(ws);
  dheap->backward();
  CHECK(same_bits(ws.gradients(), dheap->gradients()));
}

TEST_CASE("models_storage: borrowed memory of the wrong size or alignment is refused, naming the sizes",
          "[storage]") {
  using borrowed = serve_encoder<borrowed_arenas>;
  const std::size_t need = borrowed::bytes_for(2, 16);
  caller_memory memory(need);
  const std::string needed = std::to_string(need), given = std::to_string(need - 64);
  CHECK_THROWS_AS(borrowed(memory.first(need - 64), 2, 16), invalid_argument);
  CHECK_THROWS_WITH(borrowed(memory.first(need - 64), 2, 16),
                    Catch::Contains("holds " + given + " bytes") && Catch::Contains("needs " + needed + " bytes") &&
                        Catch::Contains("2 x 16"));
  // One line short of a bigger batch.
  CHECK_THROWS_WITH(borrowed(memory.first(need), 3, 16),
                    Catch::Contains("needs " + std::to_string(borrowed::bytes_for(3, 16)) + " bytes"));
  // Misaligned by 8 bytes.
  CHECK_THROWS_AS(borrowed(memory.bytes.subspan(8, need), 2, 16), invalid_argument);
  CHECK_THROWS_WITH(borrowed(memory.bytes.subspan(8, need), 2, 16),
                    Catch::Contains("64-byte boundary") && Catch::Contains("8 bytes past one"));
  // The exact size and alignment are accepted.
  CHECK_NOTHROW(borrowed(memory.first(need), 2, 16));

  // A workspace alone is checked the same way.
  using ws = borrowed::workspace_type;
  const std::size_t wneed = ws::bytes_for(2, 16);
  CHECK(wneed == borrowed::plan::workspace_bytes(2, 16));
  caller_memory wmem(wneed);
  CHECK_THROWS_WITH(ws(wmem.first(wneed - 1), 2, 16),
                    Catch::Contains("workspace (borrowed_arenas)") && Catch::Contains("needs " + std::to_string(wneed)));
  CHECK_THROWS_WITH(ws(wmem.bytes.subspan(4, wneed), 2, 16), Catch::Contains("64-byte boundary"));
}

TEST_CASE("models_storage: a static workspace refuses batches beyond its compile-time bounds", "[storage]") {
  using fixed = serve_encoder<static_arenas<2, 8>>;
  auto m = std::make_unique<fixed>();
  const batch ok = make_batch(2, 8, tiny_encoder.vocab);
  CHECK_NOTHROW(m->forward(ok.input()));
  const batch too_long = make_batch(1, 9, tiny_encoder.vocab);
  CHECK_THROWS_WITH(m->forward(too_long.input()), Catch::Contains("max_seq = 8"));
  // A smaller bound than the type's is allowed; a larger one is not.
  CHECK_NOTHROW(std::make_unique<fixed::workspace_type>(1, 4));
  CHECK_THROWS_WITH(std::make_unique<fixed::workspace_type>(3, 8),
                    Catch::Contains("static_arenas<2, 8>") && Catch::Contains("3 x 8"));
}

}  // namespace models_storage_tests
