// Finite-difference gradient checks (double) of every layer: linear,
// LayerNorm, embeddings, attention (bidirectional with padding, causal),
// feed-forward (both GELUs), dropout, and post-LN / pre-LN blocks.
#include "gradcheck.hpp"

#include <autodidact/layers/attention.hpp>
#include <autodidact/layers/block.hpp>
#include <autodidact/layers/dropout.hpp>
#include <autodidact/layers/embedding.hpp>
#include <autodidact/layers/feed_forward.hpp>
#include <autodidact/layers/layernorm.hpp>
#include <autodidact/layers/linear.hpp>

#include <vector>

namespace layers_layers_gradcheck_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using std::vector;
using V = vector<double>;

namespace {
V normal(std::size_t n, std::uint64_t seed, double stddev = 1.0, double mean = 0.0) {
  V v(n);
  gradcheck::fill_normal(v.data(), n, seed, stddev, mean);
  return v;
}
}  // namespace

TEST_CASE("linear: dW, db, dx", "[gradcheck][linear]") {
  const int n = 5, in = 7, out = 9;
  V w = normal(out * in, 1, 0.5), b = normal(out, 2), x = normal(n * in, 3), r = normal(n * out, 4);
  V y(n * out), dw(w.size()), db(b.size()), dx(x.size());
  const layers::linear_params<double> p{w.data(), b.data(), in, out};
  auto loss = [&] {
    layers::linear_forward(p, n, x.data(), y.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  layers::linear_backward(p, {dw.data(), db.data()}, n, x.data(), r.data(), dx.data());
  gradcheck::check("dW", w.data(), w.size(), dw.data(), loss, 1000);
  gradcheck::check("db", b.data(), b.size(), db.data(), loss, 1000);
  gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, 1000);
}

TEST_CASE("layernorm: dgamma, dbeta, dx", "[gradcheck][layernorm]") {
  const int n = 4, c = 13;
  V g = normal(c, 5, 0.1, 1.0), be = normal(c, 6, 0.1), x = normal(n * c, 7, 2.0), r = normal(n * c, 8);
  V y(n * c), mean(n), rstd(n), dg(c), dbe(c), dx(x.size());
  const layers::layernorm_params<double> p{g.data(), be.data(), c, 1e-5};
  auto loss = [&] {
    layers::layernorm_forward(p, n, x.data(), y.data(), {mean.data(), rstd.data()});
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  layers::layernorm_backward(p, {dg.data(), dbe.data()}, n, x.data(), {mean.data(), rstd.data()}, r.data(),
                             dx.data());
  gradcheck::check("dgamma", g.data(), g.size(), dg.data(), loss, 1000);
  gradcheck::check("dbeta", be.data(), be.size(), dbe.data(), loss, 1000);
  gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, 1000);
}

TEST_CASE("embeddings: token, position and segment tables", "[gradcheck][embedding]") {
  const int vocab = 11, positions = 6, segments = 2, c = 5, n = 8;
  V tok = normal(vocab * c, 9), pos = normal(positions * c, 10), seg = normal(segments * c, 11),
    r = normal(n * c, 12);
  vector<std::int32_t> ids{3, 3, 7, 0, 10, 3, 1, 2}, pids{0, 1, 2, 3, 0, 1, 2, 5},
      sids{0, 0, 1, 1, 0, 1, 1, 0};
  V y(n * c), dtok(tok.size()), dpos(pos.size()), dseg(seg.size());
  const layers::embedding_params<double> p{tok.data(), pos.data(), seg.data(), vocab, positions, segments, c};
  const layers::embedding_input in{ids.data(), pids.data(), sids.data(), n};
  auto loss = [&] {
    layers::embedding_forward(p, in, y.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  layers::embedding_backward(p, {dtok.data(), dpos.data(), dseg.data()}, in, r.data());
  gradcheck::check("dtoken", tok.data(), tok.size(), dtok.data(), loss, 1000);
  gradcheck::check("dposition", pos.data(), pos.size(), dpos.data(), loss, 1000);
  gradcheck::check("dsegment", seg.data(), seg.size(), dseg.data(), loss, 1000);
}

namespace {
void check_attention(bool causal, bool padded, float attn_dropout) {
  const int batch = 2, seq = 7, c = 12, heads = 3, n = batch * seq;
  V wqkv = normal(3 * c * c, 13, 0.4), bqkv = normal(3 * c, 14, 0.1), wp = normal(c * c, 15, 0.4),
    bp = normal(c, 16, 0.1), x = normal(n * c, 17), res = normal(n * c, 18), r = normal(n * c, 19);
  V qkv(n * 3 * c), probs(batch * heads * seq * seq), ctx(n * c), y(n * c);
  V dwqkv(wqkv.size()), dbqkv(bqkv.size()), dwp(wp.size()), dbp(bp.size()), dx(x.size());
  V s_ctx(n * c), s_qkv(n * 3 * c), s_probs(probs.size());
  vector<std::int32_t> lengths{seq, padded ? 4 : seq};
  layers::attention_params<double> p;
  p.qkv = {wqkv.data(), bqkv.data(), c, 3 * c};
  p.proj = {wp.data(), bp.data(), c, c};
  p.heads = heads;
  p.causal = causal;
  const layers::attention_shape shape{batch, seq, lengths.data()};
  const layers::attention_cache<double> cache{qkv.data(), probs.data(), ctx.data()};
  const philox_rng rng(3, rng_stream::dropout);
  const layers::dropout_site drop{&rng, 1, 2, attn_dropout};
  auto loss = [&] {
    layers::attention_forward(p, shape, x.data(), cache, y.data(), res.data(), drop);
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  layers::attention_backward(p, {{dwqkv.data(), dbqkv.data()}, {dwp.data(), dbp.data()}}, shape, x.data(),
                             cache, r.data(), dx.data(), s_ctx.data(), s_qkv.data(), s_probs.data(), drop);
  // Every element of every tensor (the largest, Wqkv, has 432).
  gradcheck::check("dWqkv", wqkv.data(), wqkv.size(), dwqkv.data(), loss, wqkv.size());
  gradcheck::check("dbqkv", bqkv.data(), bqkv.size(), dbqkv.data(), loss, bqkv.size());
  gradcheck::check("dWproj", wp.data(), wp.size(), dwp.data(), loss, wp.size());
  gradcheck::check("dbproj", bp.data(), bp.size(), dbp.data(), loss, bp.size());
  gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, x.size());
}
}  // namespace

TEST_CASE("attention: bidirectional with a padding mask", "[gradcheck][attention]") {
  check_attention(false, true, 0);
}
TEST_CASE("attention: causal", "[gradcheck][attention]") {
  check_attention(true, false, 0);
}
TEST_CASE("attention: causal with padding", "[gradcheck][attention]") {
  check_attention(true, true, 0);
}
TEST_CASE("attention: with attention dropout (fixed mask)", "[gradcheck][attention]") {
  check_attention(false, true, 0.3f);
}

TEST_CASE("feed-forward: erf and tanh GELU", "[gradcheck][feed_forward]") {
  for (gelu_kind kind : {gelu_kind::erf, gelu_kind::tanh}) {
    const int n = 6, c = 9, f = 17;
    V w1 = normal(f * c, 20, 0.5), b1 = normal(f, 21, 0.3), w2 = normal(c * f, 22, 0.5),
      b2 = normal(c, 23, 0.1), x = normal(n * c, 24), r = normal(n * c, 25);
    V pre(n * f), act(n * f), y(n * c), dw1(w1.size()), db1(b1.size()), dw2(w2.size()), db2(b2.size()),
        dx(x.size()), scratch(n * f);
    layers::feed_forward_params<double> p{{w1.data(), b1.data(), c, f}, {w2.data(), b2.data(), f, c}, kind};
    auto loss = [&] {
      layers::feed_forward_forward(p, n, x.data(), {pre.data(), act.data()}, y.data(),
                                   static_cast<const double*>(nullptr));
      return gradcheck::dot(r.data(), y.data(), y.size());
    };
    loss();
    layers::feed_forward_backward(p, {{dw1.data(), db1.data()}, {dw2.data(), db2.data()}}, n, x.data(),
                                  {pre.data(), act.data()}, r.data(), dx.data(), scratch.data());
    gradcheck::check("dW1", w1.data(), w1.size(), dw1.data(), loss, 300);
    gradcheck::check("db1", b1.data(), b1.size(), db1.data(), loss, 300);
    gradcheck::check("dW2", w2.data(), w2.size(), dw2.data(), loss, 300);
    gradcheck::check("db2", b2.data(), b2.size(), db2.data(), loss, 300);
    gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, 300);
  }
}

TEST_CASE("dropout: a fixed mask is linear, and backward applies it", "[gradcheck][dropout]") {
  const philox_rng rng(9, rng_stream::dropout);
  const layers::dropout_site site{&rng, 4, 1, 0.25f};
  V x = normal(1000, 26), r = normal(1000, 27), y(1000), dx(1000);
  auto loss = [&] {
    y = x;
    layers::dropout_apply(site, 1000, y.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  dx = r;
  layers::dropout_backward(site, 1000, dx.data());
  gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, 1000);
  int zeros = 0;
  for (double v : y) zeros += v == 0.0;
  CHECK(zeros > 150);
  CHECK(zeros < 350);
}

namespace {
void check_block(norm_placement norm, bool with_dropout) {
  const int batch = 2, seq = 5, c = 8, heads = 2, f = 12, n = batch * seq;
  V params = normal(3 * c * c + 3 * c + c * c + c + 4 * c + f * c + f + c * f + c, 30, 0.4);
  double* at = params.data();
  auto take = [&](std::size_t k) {
    double* p = at;
    at += k;
    return p;
  };
  double *wqkv = take(3 * c * c), *bqkv = take(3 * c), *wp = take(c * c), *bp = take(c), *g1 = take(c),
         *b1 = take(c), *g2 = take(c), *b2 = take(c), *w1 = take(f * c), *bb1 = take(f), *w2 = take(c * f),
         *bb2 = take(c);
  for (int j = 0; j < c; ++j) {
    g1[j] += 1.0;
    g2[j] += 1.0;
  }
  V grads(params.size());
  auto grad_of = [&](const double* p) { return grads.data() + (p - params.data()); };
  layers::block_params<double> p;
  p.ln1 = {g1, b1, c, 1e-5};
  p.ln2 = {g2, b2, c, 1e-5};
  p.attention = {{wqkv, bqkv, c, 3 * c}, {wp, bp, c, c}, heads, norm == norm_placement::pre};
  p.ff = {{w1, bb1, c, f}, {w2, bb2, f, c}, norm == norm_placement::pre ? gelu_kind::tanh : gelu_kind::erf};
  p.norm = norm;
  layers::block_grads<double> g;
  g.ln1 = {grad_of(g1), grad_of(b1)};
  g.ln2 = {grad_of(g2), grad_of(b2)};
  g.attention = {{grad_of(wqkv), grad_of(bqkv)}, {grad_of(wp), grad_of(bp)}};
  g.ff = {{grad_of(w1), grad_of(bb1)}, {grad_of(w2), grad_of(bb2)}};
  V x = normal(n * c, 31), r = normal(n * c, 32), dx(n * c);
  V a_ln1(n * c), m1(n), s1(n), qkv(n * 3 * c), probs(batch * heads * seq * seq), ctx(n * c), res1(n * c),
      a_ln2(n * c), m2(n), s2(n), pre(n * f), act(n * f), res2(n * c);
  layers::block_cache<double> cache{a_ln1.data(),
                                    m1.data(),
                                    s1.data(),
                                    {qkv.data(), probs.data(), ctx.data()},
                                    res1.data(),
                                    a_ln2.data(),
                                    m2.data(),
                                    s2.data(),
                                    {pre.data(), act.data()},
                                    res2.data()};
  V c0(n * c), c1(n * c), c2(n * c), c3(n * c), sq(n * 3 * c), sf(n * f), sp(probs.size()), sg(c), sb(c);
  const layers::block_scratch<double> w{c0.data(), c1.data(), c2.data(), c3.data(), sq.data(),
                                        sf.data(), sp.data(), sg.data(), sb.data()};
  vector<std::int32_t> lengths{seq, 3};
  const layers::attention_shape shape{batch, seq, lengths.data()};
  const philox_rng rng(5, rng_stream::dropout);
  layers::block_dropout drop{};
  if (with_dropout) drop = {{&rng, 1, 10, 0.2f}, {&rng, 1, 11, 0.2f}, {&rng, 1, 12, 0.2f}};
  auto loss = [&] {
    layers::block_forward(p, shape, x.data(), cache, drop);
    return gradcheck::dot(r.data(), cache.output(norm), r.size());
  };
  loss();
  layers::block_backward(p, g, shape, x.data(), cache, r.data(), dx.data(), w, drop);
  gradcheck::check("block parameters", params.data(), params.size(), grads.data(), loss, 600);
  gradcheck::check("block dx", x.data(), x.size(), dx.data(), loss, 80);
}
}  // namespace

TEST_CASE("block: post-LN (BERT)", "[gradcheck][block]") {
  check_block(norm_placement::post, false);
}
TEST_CASE("block: pre-LN (GPT-2)", "[gradcheck][block]") {
  check_block(norm_placement::pre, false);
}
TEST_CASE("block: post-LN with every dropout on (fixed masks)", "[gradcheck][block]") {
  check_block(norm_placement::post, true);
}
TEST_CASE("block: pre-LN with every dropout on (fixed masks)", "[gradcheck][block]") {
  check_block(norm_placement::pre, true);
}

}  // namespace layers_layers_gradcheck_tests
