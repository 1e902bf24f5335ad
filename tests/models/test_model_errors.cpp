// Bad input to the models: clear errors naming the argument, expected vs actual.
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <memory>

using namespace autodidact;
using Catch::Contains;

TEST_CASE("models reject bad batches with a message naming the problem", "[errors]") {
  auto m = std::make_unique<models::encoder<tiny_encoder, f32>>(2, 16);
  std::vector<std::int32_t> ids(2 * 16, 5);
  CHECK_THROWS_WITH(m->forward({ids, {}, {}, 3, 16}), Contains("batch = 3") && Contains("max_batch = 2"));
  std::vector<std::int32_t> long_ids(2 * 20, 5);
  CHECK_THROWS_WITH(m->forward({long_ids, {}, {}, 2, 20}), Contains("sequence length 20") && Contains("max_seq = 16"));
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
  CHECK_THROWS_WITH(m->pretraining_loss(std::vector<std::int32_t>(31, -100)), Contains("mlm_labels holds 31"));
}

TEST_CASE("models reject set-up beyond the config", "[errors]") {
  using model_t = models::decoder<tiny_decoder, f32>;
  CHECK_THROWS_WITH(std::make_unique<model_t>(1, 49), Contains("max_seq = 49") && Contains("max_positions = 48"));
  CHECK_THROWS_WITH(std::make_unique<model_t>(0, 8), Contains("max_batch = 0"));
  auto m = std::make_unique<model_t>(1, 8);
  CHECK_THROWS_WITH(m->set_dropout({.hidden = 1.0f}), Contains("hidden rate 1"));
}
