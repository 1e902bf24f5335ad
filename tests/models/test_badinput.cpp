// Misuse of the models that used to go unreported (issue [robustness] item 3):
// an absurd max_batch (std::bad_alloc before, now allocation_error naming
// what and how many bytes), and a NaN weight that propagated silently
// (now, on request, numeric_error naming the first layer whose output is
// not finite). Each check asserts the exact error type and the message.
#include <catch2/catch.hpp>

#include <autodidact/core/arena.hpp>
#include <autodidact/core/error.hpp>
#include <autodidact/core/rng.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace models_badinput_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using Catch::Contains;

namespace {

template <class Model>
void fill_parameters(Model& m, std::uint64_t seed) {
  const philox_rng rng(seed, rng_stream::init);
  auto p = m.parameters();
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.1f * static_cast<float>(rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  m.parameters_changed();
}

}  // namespace

TEST_CASE("models_badinput: an absurd max_batch is an allocation_error naming the arena and its bytes", "[badinput]") {
  using enc_t = models::encoder<tiny_encoder, f32>;
  // 2^24 sequences of 40 tokens: the activations alone are hundreds of GB.
  const int max_batch = 1 << 24;
  const std::size_t bytes = enc_t::plan::activation_bytes(max_batch, 40);
  REQUIRE(bytes > (std::size_t{1} << 40));  // more than any test machine has
  CHECK_THROWS_AS(std::make_unique<enc_t>(max_batch, 40), allocation_error);
  CHECK_THROWS_WITH(std::make_unique<enc_t>(max_batch, 40),
                    Contains("workspace: the activation arena for max_batch x max_seq = 16777216 x 40") &&
                        Contains("cannot allocate") && Contains(std::to_string(bytes) + " bytes"));
  // A standalone workspace says the same.
  CHECK_THROWS_AS(enc_t::workspace_type(max_batch, 40), allocation_error);
}

TEST_CASE("models_badinput: max_batch x max_seq beyond what a workspace indexes is invalid_argument", "[badinput]") {
  using dec_t = models::decoder<tiny_decoder, f32, models::inference_only>;
  const int max_batch = std::numeric_limits<int>::max() / 8;
  CHECK_THROWS_AS(std::make_unique<dec_t>(max_batch, 48), invalid_argument);
  CHECK_THROWS_WITH(std::make_unique<dec_t>(max_batch, 48),
                    Contains("max_batch x max_seq = " + std::to_string(max_batch) + " x 48") &&
                        Contains("more than the 2147483647 a workspace can index"));
}

TEST_CASE("models_badinput: an arena that cannot be allocated names itself and its bytes", "[badinput]") {
  // 2^62 floats: the byte count overflows 64 bits.
  CHECK_THROWS_AS(arena<float>(std::size_t{1} << 62, "test: the huge arena"), allocation_error);
  CHECK_THROWS_WITH(arena<float>(std::size_t{1} << 62, "test: the huge arena"),
                    Contains("test: the huge arena: 4611686018427387904 elements of 4 bytes overflow"));
  // 2^50 bytes (1 PiB): no allocator gives that.
  CHECK_THROWS_AS(arena<double>(std::size_t{1} << 47, "test: the big arena"), allocation_error);
  CHECK_THROWS_WITH(arena<double>(std::size_t{1} << 47, "test: the big arena"),
                    Contains("test: the big arena: cannot allocate 140737488355328 elements of 8 bytes = "
                             "1125899906842624 bytes"));
  arena<float> ok(100, "test: a small arena");
  CHECK(ok.size() == 100);
  CHECK(ok.data()[99] == 0.0f);
}

TEST_CASE("models_badinput: with check_finite a NaN weight is a numeric_error naming the first layer it reaches",
          "[badinput]") {
  using enc_t = models::encoder<tiny_encoder, f32, models::inference_only>;
  auto m = std::make_unique<enc_t>(4, 32);
  fill_parameters(*m, 7);
  // B 1 x T 8 runs the stack on one thread; B 4 x T 32 (128 tokens) on a team
  // when OpenMP has two threads: both report the same layer.
  for (const int batch : {1, 4}) {
    const int seq = batch == 1 ? 8 : 32;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(batch * seq));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(3 + i % 90);
    const models::batch_input in{ids, {}, {}, batch, seq};
    m->forward(in);  // finite weights: no check, no error
    m->set_check_finite(true);
    m->forward(in);  // finite weights, checked: no error
    const std::size_t w = enc_t::layout.blocks[1][models::block_module::ff1_weight] + 5;
    m->parameter_at(w)[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(m->forward(in), numeric_error);
    CHECK_THROWS_WITH(m->forward(in), Contains("forward (check_finite): the output of block 1 (of 3; hidden state 2) "
                                               "holds NaN at [sequence 0, position 0, channel ") &&
                                          Contains("the layers before it gave finite outputs"));
    m->set_check_finite(false);
    CHECK_NOTHROW(m->forward(in));  // unchecked, the NaN goes through silently (the default)
    CHECK(std::isnan(m->hidden().data()[0]));
    // An infinite token embedding is caught at the embeddings: hidden state 0.
    m->parameter_at(w)[0] = 0.0f;
    const std::size_t e = enc_t::layout.embeddings[models::embeddings_module::token] + 80 * ids[1] + 2;
    m->parameter_at(e)[0] = std::numeric_limits<float>::infinity();
    m->set_check_finite(true);
    CHECK_THROWS_WITH(m->forward(in), Contains("the embeddings' output (hidden state 0) holds NaN at [sequence 0, "
                                               "position 1, channel "));
    m->parameter_at(e)[0] = 0.0f;
    m->set_check_finite(false);
  }
  // A workspace of its own carries its own setting.
  enc_t::workspace_type ws(1, 8);
  ws.set_check_finite(true);
  std::vector<std::int32_t> ids(8, 5);
  m->forward(ws, {ids, {}, {}, 1, 8});
  const std::size_t pooler = enc_t::layout.pooler[models::pooler_module::bias];
  m->parameter_at(pooler)[3] = std::numeric_limits<float>::quiet_NaN();  // (an infinity: tanh gives 1)
  CHECK_THROWS_AS(m->forward(ws, {ids, {}, {}, 1, 8}), numeric_error);
  CHECK_THROWS_WITH(m->forward(ws, {ids, {}, {}, 1, 8}),
                    Contains("the pooler's output holds NaN at [sequence 0, channel 3]"));
}

}  // namespace models_badinput_tests
