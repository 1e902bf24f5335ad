// The objectives (objectives/): BERT's masking — exact behaviour,
// determinism by (seed, epoch, window), whole words, errors — and the MLM
// and CLM objectives over tiny models: the loss they return is the model's
// loss on the corrupted batch, their labels are what the papers say, and a
// few AdamW steps on a fixed batch make the loss fall.
#include <catch2/catch.hpp>

#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/objectives/clm.hpp>
#include <autodidact/objectives/mlm.hpp>
#include <autodidact/optim/adamw.hpp>

#include <memory>
#include <vector>

namespace objectives_objectives_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using namespace autodidact::objectives;
using Catch::Contains;

namespace {

const std::int32_t specials[] = {0, 1, 2};  // [PAD], [CLS], [SEP]; [MASK] = 3

// Two windows of 16: [CLS] words [SEP] [PAD]...
struct sample {
  std::vector<std::int32_t> ids, lengths{16, 11};
  std::vector<std::uint8_t> special, word_start;  // special: 1 = never masked
  std::vector<std::uint64_t> windows{40, 41};
  sample() {
    ids.assign(32, 0);
    special.assign(32, 1);
    word_start.assign(32, 0);
    for (int b = 0; b < 2; ++b) {
      const int n = lengths[static_cast<std::size_t>(b)];
      ids[static_cast<std::size_t>(b * 16)] = 1;
      for (int i = 1; i < n - 1; ++i) {
        const auto at = static_cast<std::size_t>(b * 16 + i);
        ids[at] = 4 + (b * 13 + i * 5) % 90;
        special[at] = 0;
        word_start[at] = i % 2;
      }
      ids[static_cast<std::size_t>(b * 16 + n - 1)] = 2;
    }
  }
  token_batch batch() const { return {ids, {}, lengths, special, word_start, windows, 2, 16}; }
};

}  // namespace

TEST_CASE("masking: only eligible tokens, labels are the originals, a pure function of (seed, epoch, window)",
          "[masking]") {
  const auto v = masking_vocabulary::from(97, specials, 3);
  CHECK(v.replacements.size() == 93u);  // 97 ids minus [PAD], [CLS], [SEP], [MASK]
  sample s;
  const masking_options o{.select = 0.5, .seed = 5};
  auto run = [&](std::uint32_t epoch, std::uint64_t window) {
    std::vector<std::int32_t> ids(s.ids.begin(), s.ids.begin() + 16), labels(16);
    mask_window(o, v, epoch, window, {ids, std::span(s.special).first(16), {}, labels});
    return std::pair{ids, labels};
  };
  const auto a = run(0, 7), again = run(0, 7), other_window = run(0, 8), other_epoch = run(1, 7);
  CHECK(a == again);
  CHECK(a != other_window);
  CHECK(a != other_epoch);
  int selected = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (s.special[i]) {
      CHECK(a.second[i] == ignore_label);
      CHECK(a.first[i] == s.ids[i]);
      continue;
    }
    if (a.second[i] == ignore_label) {
      CHECK(a.first[i] == s.ids[i]);
    } else {
      ++selected;
      CHECK(a.second[i] == s.ids[i]);
    }
  }
  CHECK(selected > 0);
  // select = 0 never masks; select = 1 with mask = 1 masks every eligible token.
  std::vector<std::int32_t> ids(s.ids.begin(), s.ids.begin() + 16), labels(16);
  CHECK(mask_window({.select = 0.0}, v, 0, 0, {ids, std::span(s.special).first(16), {}, labels}) == 0);
  CHECK(mask_window({.select = 1.0, .mask = 1.0, .random = 0.0}, v, 0, 0,
                    {ids, std::span(s.special).first(16), {}, labels}) == 14);
  for (std::size_t i = 0; i < 16; ++i) CHECK(ids[i] == (s.special[i] ? s.ids[i] : 3));
}

TEST_CASE("whole-word masking selects a word's pieces together", "[masking]") {
  const auto v = masking_vocabulary::from(97, specials, 3);
  sample s;
  int words_with_pieces = 0;
  for (std::uint64_t w = 0; w < 200; ++w) {
    std::vector<std::int32_t> ids(s.ids.begin(), s.ids.begin() + 16), labels(16);
    mask_window({.select = 0.3, .whole_word = true, .seed = 3}, v, 0, w,
                {ids, std::span(s.special).first(16), std::span(s.word_start).first(16), labels});
    // Words are (1,2), (3,4), ..., (13,14): start at odd positions.
    for (std::size_t i = 1; i + 1 < 15; i += 2) {
      CHECK((labels[i] == ignore_label) == (labels[i + 1] == ignore_label));
      words_with_pieces += labels[i] != ignore_label;
    }
  }
  CHECK(words_with_pieces > 0);
}

TEST_CASE("masking refuses bad options, a vocabulary without [MASK] and batches with nothing to mask", "[masking]") {
  CHECK_THROWS_WITH(masking_vocabulary::from(97, specials, -1), Contains("has no [MASK] token"));
  CHECK_THROWS_WITH(masking_vocabulary::from(3, specials, 2), Contains("every one of the 3 ids is special"));
  const auto v = masking_vocabulary::from(97, specials, 3);
  CHECK_THROWS_WITH(check_masking({.select = 1.5}, v), Contains("select = 1.5 must be a probability"));
  CHECK_THROWS_WITH(check_masking({.mask = 0.9, .random = 0.2}, v), Contains("mask + random <= 1"));
  CHECK_THROWS_WITH(check_masking({}, masking_vocabulary{}), Contains("no [MASK] token"));
  using model_t = models::encoder<tiny_encoder, f32>;
  CHECK_THROWS_WITH((masked_lm<model_t>({}, masking_vocabulary::from(200, specials, 150), 2, 16)),
                    Contains("[MASK] id 150 is outside the model's vocabulary of 97"));
  masked_lm<model_t> mlm({.whole_word = true}, v, 2, 16);
  sample s;
  token_batch b = s.batch();
  b.word_start = {};
  CHECK_THROWS_WITH(mlm.corrupt(b, 0), Contains("whole-word masking needs the batch's word_start flags"));
  const std::vector<std::uint8_t> all_special(32, 1);
  b = s.batch();
  b.special = all_special;
  CHECK_THROWS_WITH(mlm.corrupt(b, 0), Contains("no eligible token"));
  b = s.batch();
  b.window_indices = {};
  CHECK_THROWS_WITH(mlm.corrupt(b, 0), Contains("window_indices holds 0 entries, expected batch = 2"));
  b = s.batch();
  b.seq = 32;
  b.batch = 1;
  b.lengths = {};
  b.window_indices = std::span(s.windows).first(1);
  CHECK_THROWS_WITH(mlm.corrupt(b, 0), Contains("larger than the 2 x 16 the objective was set up for"));
}

TEST_CASE("masked_lm: the model's loss on the corrupted batch, and it learns", "[objectives]") {
  using model_t = models::encoder<tiny_encoder, f32>;
  auto model = std::make_unique<model_t>(2, 16, models::init_options{.seed = 1});
  model_t::workspace_type ws(2, 16);
  masked_lm<model_t> mlm({.select = 0.3, .seed = 9}, masking_vocabulary::from(97, specials, 3), 2, 16);
  sample s;
  const float first = mlm.loss(std::as_const(*model), ws, s.batch(), 0);
  CHECK(mlm.selected() > 0);
  // The same as running the model by hand on what the objective corrupted.
  std::vector<std::int32_t> ids(mlm.corrupted().begin(), mlm.corrupted().end());
  std::vector<std::int32_t> labels(mlm.labels().begin(), mlm.labels().end());
  model->forward({ids, {}, s.lengths, 2, 16});
  CHECK(model->pretraining_loss(labels) == first);
  int selected = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    selected += labels[i] != ignore_label;
    if (labels[i] != ignore_label) CHECK(labels[i] == s.ids[i]);
  }
  CHECK(selected == mlm.selected());
  // Twenty AdamW steps on one batch (fixed masks: epoch 0): the loss falls.
  optim::adamw<float> opt(model_t::plan::gradient_elements, {.lr = 3e-3});
  float loss = 0;
  for (int step = 0; step < 20; ++step) {
    ws.zero_gradients();
    loss = mlm.train_step(*model, ws, s.batch(), 0);
    opt.step(model->trainable_parameters(), ws.gradients(), 1.0);
  }
  INFO("first loss " << first << ", after 20 steps " << loss);
  CHECK(loss < 0.5f * first);
}

TEST_CASE("causal_lm: labels are the ids on real tokens, and it learns", "[objectives]") {
  using model_t = models::decoder<tiny_decoder, f32>;
  auto model = std::make_unique<model_t>(2, 16, models::init_options{.seed = 2});
  model_t::workspace_type ws(2, 16);
  causal_lm<model_t> clm(2, 16);
  sample s;
  const token_batch b{s.ids, {}, s.lengths, {}, {}, {}, 2, 16};
  const float first = clm.loss(*model, ws, b);
  for (std::size_t i = 0; i < 32; ++i) CHECK(clm.labels()[i] == (static_cast<int>(i % 16) < s.lengths[i / 16] ? s.ids[i] : -100));
  std::vector<std::int32_t> labels(clm.labels().begin(), clm.labels().end());
  model->forward({s.ids, {}, s.lengths, 2, 16});
  CHECK(model->clm_loss(labels) == first);
  optim::adamw<float> opt(model_t::plan::gradient_elements, {.lr = 3e-3});
  float loss = 0;
  for (int step = 0; step < 20; ++step) {
    ws.zero_gradients();
    loss = clm.train_step(*model, ws, b);
    opt.step(model->trainable_parameters(), ws.gradients(), 1.0);
  }
  INFO("first loss " << first << ", after 20 steps " << loss);
  CHECK(loss < 0.5f * first);
  CHECK_THROWS_WITH(clm.loss(*model, ws, {s.ids, {}, {}, {}, {}, {}, 4, 8}),
                    Contains("larger than the 2 x 16"));
}

}  // namespace objectives_objectives_tests
