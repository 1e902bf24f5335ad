// The typed layers (layers/typed/): each gives bitwise the free function's
// outputs and gradients on the same parameters (copied into separate
// buffers), owning or bound; their tables are the models' module tables;
// a block bound to a model's parameter arena computes the model's block.
#include <catch2/catch.hpp>

#include <autodidact/layers/typed/attention.hpp>
#include <autodidact/layers/typed/block.hpp>
#include <autodidact/layers/typed/embedding.hpp>
#include <autodidact/layers/typed/feed_forward.hpp>
#include <autodidact/layers/typed/layernorm.hpp>
#include <autodidact/layers/typed/linear.hpp>
#include <autodidact/models/encoder.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace layers_typed_layers_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using std::vector;
using F = vector<float>;

namespace {
F normal(std::size_t n, std::uint64_t seed, double sd = 1.0) {
  F v(n);
  const philox_rng rng(seed, rng_stream::user);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(sd * rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  return v;
}
F copy_of(std::span<const float> s) { return F(s.begin(), s.end()); }
bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
// A copy of tensor i of a layer (its own buffer, for the free function).
template <class L>
F tensor(const L& l, std::size_t i) {
  return copy_of(l.parameter(i));
}
}  // namespace

TEST_CASE("typed linear: the free function's outputs and gradients, bitwise", "[unit][typed][linear]") {
  using L = layers::linear<24, 10>;
  L lin({.seed = 3, .range = 0.5});
  const int n = 7;
  F x = normal(n * 24, 1), dy = normal(n * 10, 2);
  F y(n * 10), dx(n * 24);
  lin.forward(n, x.data(), y.data());
  lin.backward(n, x.data(), dy.data(), dx.data());
  F w = tensor(lin, L::weight), b = tensor(lin, L::bias), y2(n * 10), dx2(n * 24), dw(w.size()), db(b.size());
  const layers::linear_params<float> p{w.data(), b.data(), 24, 10};
  layers::linear_forward(p, n, x.data(), y2.data());
  layers::linear_backward(p, {dw.data(), db.data()}, n, x.data(), dy.data(), dx2.data());
  CHECK(same_bits(y.data(), y2.data(), y.size()));
  CHECK(same_bits(dx.data(), dx2.data(), dx.size()));
  CHECK(same_bits(lin.gradient(L::weight).data(), dw.data(), dw.size()));
  CHECK(same_bits(lin.gradient(L::bias).data(), db.data(), db.size()));
  // The table: a Linear as the models declare one (the pooler's, for In = Out).
  constexpr auto pooler = models::pooler_module::parameters(model_config{.d_model = 24});
  constexpr auto square = layers::linear<24, 24>::table();
  STATIC_REQUIRE(pooler[0].name == square[0].name);
  STATIC_REQUIRE(pooler[0].rows == square[0].rows);
  STATIC_REQUIRE(pooler[0].cols == square[0].cols);
  STATIC_REQUIRE(pooler[0].role == square[0].role);
  STATIC_REQUIRE(pooler[1].name == square[1].name);
  STATIC_REQUIRE(L::parameter_elements == 240 + 16);  // [10, 24] then [10] padded to 16 floats
}

TEST_CASE("typed linear: bound to caller memory, frozen without gradients", "[unit][typed][linear]") {
  using L = layers::linear<8, 4>;
  arena<float> params(2 * L::parameter_elements), grads(2 * L::parameter_elements);
  L first(params.span().first(L::parameter_elements), grads.span().first(L::parameter_elements));
  L second(params.span().subspan(L::parameter_elements), {});  // frozen
  CHECK(!first.owns_memory());
  CHECK(first.trainable());
  CHECK(!second.trainable());
  CHECK(first.parameter(L::weight).data() == params.data());
  CHECK(second.parameter(L::bias).data() == params.data() + L::parameter_elements + L::plan.offsets[L::bias]);
  for (std::size_t i = 0; i < params.size(); ++i) params.data()[i] = 0.01f * float(i % 13);
  F x = normal(3 * 8, 4), dy = normal(3 * 4, 5), y(12), dx(24);
  second.forward(3, x.data(), y.data());
  second.backward(3, x.data(), dy.data(), dx.data());
  for (std::size_t i = 0; i < grads.size(); ++i) REQUIRE(grads.data()[i] == 0.0f);  // frozen: nothing written
  // initialize() sets a bound layer as the owning constructor sets its own.
  first.initialize({.seed = 9, .range = 0.1});
  const L owning({.seed = 9, .range = 0.1});
  CHECK(same_bits(first.parameters().data(), owning.parameters().data(), L::parameter_elements));
  // Misuse is named.
  CHECK_THROWS_WITH(L(params.span().first(10), {}), Catch::Contains("parameter_elements"));
  CHECK_THROWS_WITH(L(params.span().subspan(1, L::parameter_elements), {}), Catch::Contains("64-byte boundary"));
}

TEST_CASE("typed layernorm: the free function's outputs and gradients, bitwise", "[unit][typed][layernorm]") {
  using L = layers::layernorm<19, f32, 1e-5>;
  L ln({.seed = 1});
  // Gains 1, biases 0 from the table's roles; perturb them.
  for (float& g : ln.parameter(L::gain)) REQUIRE(g == 1.0f);
  for (float& b : ln.parameter(L::bias)) REQUIRE(b == 0.0f);
  F pg = normal(19, 9, 0.1), pb = normal(19, 10, 0.1);
  for (int i = 0; i < 19; ++i) ln.parameter(L::gain)[i] += pg[i], ln.parameter(L::bias)[i] = pb[i];
  const int n = 6;
  L::workspace w(n);
  F x = normal(n * 19, 6, 3.0), dy = normal(n * 19, 7), y(n * 19), dx(n * 19);
  ln.forward(w, n, x.data(), y.data());
  ln.backward(w, n, x.data(), dy.data(), dx.data());
  F g = tensor(ln, L::gain), b = tensor(ln, L::bias), y2(y.size()), dx2(dx.size()), dg(19), dbb(19), mean(n), rstd(n);
  const layers::layernorm_params<float> p{g.data(), b.data(), 19, 1e-5f};
  layers::layernorm_forward(p, n, x.data(), y2.data(), {mean.data(), rstd.data()});
  layers::layernorm_backward(p, {dg.data(), dbb.data()}, n, x.data(), {mean.data(), rstd.data()}, dy.data(), dx2.data());
  CHECK(same_bits(y.data(), y2.data(), y.size()));
  CHECK(same_bits(dx.data(), dx2.data(), dx.size()));
  CHECK(same_bits(ln.gradient(L::gain).data(), dg.data(), 19));
  CHECK(same_bits(ln.gradient(L::bias).data(), dbb.data(), 19));
  CHECK_THROWS_WITH(ln.forward(w, n + 1, x.data(), y.data()), Catch::Contains("the workspace holds 6"));
  STATIC_REQUIRE(L::table()[0].name == std::string_view("gain"));
}

TEST_CASE("typed embedding: the free function's outputs and gradients, bitwise", "[unit][typed][embedding]") {
  using L = layers::embedding<50, 12, 16, f32, 2>;
  L emb({.seed = 2});
  for (float v : emb.parameter(L::token).first(16)) REQUIRE(v == 0.0f);  // BERT's padding row
  STATIC_REQUIRE(L::table()[L::token].name == std::string_view("token_embedding"));
  STATIC_REQUIRE(!L::table()[models::embeddings_module::norm_gain].present());
  const int n = 9;
  vector<std::int32_t> ids{4, 9, 49, 0, 4, 13, 13, 2, 7}, pos{0, 1, 2, 3, 0, 1, 2, 3, 11}, seg{0, 0, 1, 1, 0, 1, 1, 0, 1};
  const layers::embedding_input in{ids.data(), pos.data(), seg.data(), n};
  F y(n * 16), dy = normal(n * 16, 3);
  emb.forward(in, y.data());
  emb.backward(in, dy.data());
  F t = tensor(emb, L::token), p = tensor(emb, L::position), s = tensor(emb, L::segment), y2(y.size()),
    dt(t.size()), dp(p.size()), ds(s.size());
  const layers::embedding_params<float> ep{t.data(), p.data(), s.data(), 50, 12, 2, 16};
  layers::embedding_forward(ep, in, y2.data());
  layers::embedding_backward(ep, {dt.data(), dp.data(), ds.data()}, in, dy.data());
  CHECK(same_bits(y.data(), y2.data(), y.size()));
  CHECK(same_bits(emb.gradient(L::token).data(), dt.data(), dt.size()));
  CHECK(same_bits(emb.gradient(L::position).data(), dp.data(), dp.size()));
  CHECK(same_bits(emb.gradient(L::segment).data(), ds.data(), ds.size()));
}

namespace {
template <attention_kind K>
void attention_bitwise(float attn_dropout) {
  using L = layers::attention<24, 3, f32, K>;
  L att({.seed = 4, .range = 0.3});
  const int batch = 2, seq = 7, n = batch * seq;
  typename L::workspace w(3, 8);  // larger than the batch: only the used part is touched
  vector<std::int32_t> lengths{seq, 4};
  const layers::attention_shape s{batch, seq, lengths.data()};
  const philox_rng rng(3, rng_stream::dropout);
  const layers::dropout_site drop{&rng, 1, 2, attn_dropout};
  F x = normal(n * 24, 11), res = normal(n * 24, 12), dy = normal(n * 24, 13), y(n * 24), dx(n * 24);
  att.forward(w, s, x.data(), y.data(), res.data(), drop);
  att.backward(w, s, x.data(), dy.data(), dx.data(), drop);
  F wq = tensor(att, L::qkv_weight), bq = tensor(att, L::qkv_bias), wp = tensor(att, L::proj_weight),
    bp = tensor(att, L::proj_bias);
  F qkv(n * 72), probs(batch * 3 * seq * seq), ctx(n * 24), y2(y.size()), dx2(dx.size()), s1(n * 24), s2(n * 72),
      s3(probs.size()), dwq(wq.size()), dbq(bq.size()), dwp(wp.size()), dbp(bp.size());
  layers::attention_params<float> p;
  p.qkv = {wq.data(), bq.data(), 24, 72};
  p.proj = {wp.data(), bp.data(), 24, 24};
  p.heads = 3;
  p.causal = K == attention_kind::causal;
  const layers::attention_cache<float> cache{qkv.data(), probs.data(), ctx.data()};
  layers::attention_forward(p, s, x.data(), cache, y2.data(), res.data(), drop);
  layers::attention_backward(p, {{dwq.data(), dbq.data()}, {dwp.data(), dbp.data()}}, s, x.data(), cache, dy.data(),
                             dx2.data(), s1.data(), s2.data(), s3.data(), drop);
  CHECK(same_bits(y.data(), y2.data(), y.size()));
  CHECK(same_bits(dx.data(), dx2.data(), dx.size()));
  CHECK(same_bits(att.gradient(L::qkv_weight).data(), dwq.data(), dwq.size()));
  CHECK(same_bits(att.gradient(L::qkv_bias).data(), dbq.data(), dbq.size()));
  CHECK(same_bits(att.gradient(L::proj_weight).data(), dwp.data(), dwp.size()));
  CHECK(same_bits(att.gradient(L::proj_bias).data(), dbp.data(), dbp.size()));
  CHECK_THROWS_WITH(att.forward(w, {4, seq, nullptr}, x.data(), y.data()), Catch::Contains("up to 3 of 8"));
}
}  // namespace

TEST_CASE("typed attention: the free function's outputs and gradients, bitwise", "[unit][typed][attention]") {
  SECTION("bidirectional with padding") { attention_bitwise<attention_kind::bidirectional>(0.0f); }
  SECTION("causal") { attention_bitwise<attention_kind::causal>(0.0f); }
  SECTION("with attention dropout") { attention_bitwise<attention_kind::bidirectional>(0.25f); }
  STATIC_REQUIRE(layers::attention<24, 3>::table()[0].name == std::string_view("qkv.weight"));
  STATIC_REQUIRE(layers::attention<24, 3>::table()[3].name == std::string_view("proj.bias"));
}

TEST_CASE("typed feed-forward: the free function's outputs and gradients, bitwise", "[unit][typed][feed_forward]") {
  using L = layers::feed_forward<16, 40, f32, gelu_kind::tanh>;
  L ff({.seed = 5, .range = 0.3});
  const int n = 5;
  L::workspace w(n);
  F x = normal(n * 16, 14), res = normal(n * 16, 15), dy = normal(n * 16, 16), y(n * 16), dx(n * 16);
  ff.forward(w, n, x.data(), y.data(), res.data());
  ff.backward(w, n, x.data(), dy.data(), dx.data());
  F w1 = tensor(ff, L::ff1_weight), b1 = tensor(ff, L::ff1_bias), w2 = tensor(ff, L::ff2_weight),
    b2 = tensor(ff, L::ff2_bias);
  F pre(n * 40), act(n * 40), sc(n * 40), y2(y.size()), dx2(dx.size()), dw1(w1.size()), db1(b1.size()),
      dw2(w2.size()), db2(b2.size());
  const layers::feed_forward_params<float> p{{w1.data(), b1.data(), 16, 40}, {w2.data(), b2.data(), 40, 16},
                                             gelu_kind::tanh};
  layers::feed_forward_forward(p, n, x.data(), {pre.data(), act.data()}, y2.data(), res.data());
  layers::feed_forward_backward(p, {{dw1.data(), db1.data()}, {dw2.data(), db2.data()}}, n, x.data(),
                                {pre.data(), act.data()}, dy.data(), dx2.data(), sc.data());
  CHECK(same_bits(y.data(), y2.data(), y.size()));
  CHECK(same_bits(dx.data(), dx2.data(), dx.size()));
  CHECK(same_bits(ff.gradient(L::ff1_weight).data(), dw1.data(), dw1.size()));
  CHECK(same_bits(ff.gradient(L::ff1_bias).data(), db1.data(), db1.size()));
  CHECK(same_bits(ff.gradient(L::ff2_weight).data(), dw2.data(), dw2.size()));
  CHECK(same_bits(ff.gradient(L::ff2_bias).data(), db2.data(), db2.size()));
}

namespace {
template <layers::block_options O>
void block_bitwise(bool with_dropout) {
  using L = layers::block<16, 4, 36, f32, O>;
  L blk({.seed = 6, .range = 0.3});
  const int batch = 2, seq = 5, n = batch * seq;
  typename L::workspace w(batch, seq);
  vector<std::int32_t> lengths{seq, 3};
  const layers::attention_shape s{batch, seq, lengths.data()};
  const philox_rng rng(5, rng_stream::dropout);
  layers::block_dropout drop{};
  if (with_dropout) drop = {{&rng, 1, 10, 0.2f}, {&rng, 1, 11, 0.2f}, {&rng, 1, 12, 0.2f}};
  F x = normal(n * 16, 17), dy = normal(n * 16, 18), dx(n * 16);
  const float* y = blk.forward(w, s, x.data(), drop);
  const F out(y, y + n * 16);
  blk.backward(w, s, x.data(), dy.data(), dx.data(), drop);

  // The free function on a copy of the whole parameter memory.
  F params = copy_of(blk.parameters()), grads(params.size()), dx2(n * 16);
  const auto at = [&](F& v, std::size_t i) { return v.data() + L::plan.offsets[i]; };
  using bm = models::block_module;
  layers::block_params<float> p;
  p.ln1 = {at(params, bm::ln1_gain), at(params, bm::ln1_bias), 16, float(O.eps)};
  p.ln2 = {at(params, bm::ln2_gain), at(params, bm::ln2_bias), 16, float(O.eps)};
  p.attention = {{at(params, bm::qkv_weight), at(params, bm::qkv_bias), 16, 48},
                 {at(params, bm::proj_weight), at(params, bm::proj_bias), 16, 16},
                 4,
                 O.attention == attention_kind::causal};
  p.ff = {{at(params, bm::ff1_weight), at(params, bm::ff1_bias), 16, 36},
          {at(params, bm::ff2_weight), at(params, bm::ff2_bias), 36, 16},
          O.gelu};
  p.norm = O.norm;
  layers::block_grads<float> g;
  g.ln1 = {at(grads, bm::ln1_gain), at(grads, bm::ln1_bias)};
  g.ln2 = {at(grads, bm::ln2_gain), at(grads, bm::ln2_bias)};
  g.attention = {{at(grads, bm::qkv_weight), at(grads, bm::qkv_bias)}, {at(grads, bm::proj_weight), at(grads, bm::proj_bias)}};
  g.ff = {{at(grads, bm::ff1_weight), at(grads, bm::ff1_bias)}, {at(grads, bm::ff2_weight), at(grads, bm::ff2_bias)}};
  typename L::workspace w2(batch, seq);  // a second workspace: its caches for the free function
  layers::block_forward(p, s, x.data(), w2.cache(), drop);
  layers::block_backward(p, g, s, x.data(), w2.cache(), dy.data(), dx2.data(), w2.scratch(), drop);
  CHECK(same_bits(out.data(), w2.output(), out.size()));
  CHECK(same_bits(dx.data(), dx2.data(), dx.size()));
  CHECK(same_bits(blk.gradients().data(), grads.data(), grads.size()));
}
}  // namespace

TEST_CASE("typed block: the free function's outputs and gradients, bitwise", "[unit][typed][block]") {
  SECTION("post-LN (BERT)") { block_bitwise<layers::bert_block>(false); }
  SECTION("pre-LN (GPT-2)") { block_bitwise<layers::gpt2_block>(false); }
  SECTION("post-LN with dropout") { block_bitwise<layers::bert_block>(true); }
  SECTION("pre-LN with dropout") { block_bitwise<layers::gpt2_block>(true); }
  // The block's table is the models' block table, entry for entry.
  using L = layers::block<16, 4, 36>;
  constexpr auto mine = L::table();
  constexpr auto models_table = models::block_module::parameters(model_config{.d_model = 16, .heads = 4, .d_ff = 36});
  for (std::size_t i = 0; i < mine.size(); ++i) {
    CHECK(mine[i].name == models_table[i].name);
    CHECK(mine[i].elements() == models_table[i].elements());
  }
  // Its parts view the block's memory.
  L blk;
  CHECK(blk.attn().parameter(0).data() == blk.parameter(models::block_module::qkv_weight).data());
  CHECK(blk.ff().parameter(3).data() == blk.parameter(models::block_module::ff2_bias).data());
  L moved = std::move(blk);
  CHECK(moved.ln2().parameter(0).data() == moved.parameter(models::block_module::ln2_gain).data());
}

TEST_CASE("typed block frozen (bound without gradients): the same dx, no gradient written", "[unit][typed][block]") {
  using L = layers::block<16, 4, 36>;
  const L trained({.seed = 8, .range = 0.3});
  L trainable({.seed = 8, .range = 0.3});
  arena<float> params(L::parameter_elements);
  std::copy(trained.parameters().begin(), trained.parameters().end(), params.data());
  L frozen(params.span(), {});
  CHECK(!frozen.trainable());
  CHECK(!frozen.attn().trainable());
  CHECK(frozen.gradients().empty());
  const int batch = 2, seq = 4, n = batch * seq;
  L::workspace w(batch, seq);
  const layers::attention_shape s{batch, seq, nullptr};
  F x = normal(n * 16, 19), dy = normal(n * 16, 20), dx1(n * 16), dx2(n * 16);
  trainable.forward(w, s, x.data());
  trainable.backward(w, s, x.data(), dy.data(), dx1.data());
  frozen.forward(w, s, x.data());
  frozen.backward(w, s, x.data(), dy.data(), dx2.data());
  CHECK(same_bits(dx1.data(), dx2.data(), dx1.size()));
}

TEST_CASE("typed block bound to a model's arena computes the model's block", "[unit][typed][block]") {
  constexpr model_config C = tiny_encoder;
  using model_t = models::encoder<C, f32>;
  using L = layers::block<C.d_model, C.heads, C.d_ff, f32, layers::block_options_of(C)>;
  STATIC_REQUIRE(L::parameter_elements ==
                 model_t::layout.blocks[1].end - model_t::layout.blocks[1].begin);
  model_t model(2, 9, {.seed = 7});
  const int batch = 2, seq = 9;
  vector<std::int32_t> ids(batch * seq), lengths{seq, 6};
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 31 + 5) % C.vocab);
  model.forward({ids, {}, lengths, batch, seq});
  // Block 1 of the model, viewed in place (frozen: no gradient memory given).
  auto params = model.parameters().subspan(model_t::layout.blocks[1].begin, L::parameter_elements);
  const L bound(params, {});
  L::workspace w(batch, seq);
  const float* y = bound.forward(w, {batch, seq, lengths.data()}, model.hidden_state(1).data());
  CHECK(same_bits(y, model.hidden_state(2).data(), std::size_t(batch) * seq * C.d_model));
}

}  // namespace layers_typed_layers_tests
