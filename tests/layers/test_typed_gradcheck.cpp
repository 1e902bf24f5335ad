// Finite-difference gradient checks (double) of the typed layers' own
// backward (layers/typed/): linear, layernorm, attention (bidirectional
// with padding, causal), feed-forward and blocks (post-LN, pre-LN), each
// owning its parameters; every parameter element (padding included, whose
// gradient must be 0) or a spread sample, and the input.
#include "gradcheck.hpp"

#include <autodidact/layers/typed/attention.hpp>
#include <autodidact/layers/typed/block.hpp>
#include <autodidact/layers/typed/feed_forward.hpp>
#include <autodidact/layers/typed/layernorm.hpp>
#include <autodidact/layers/typed/linear.hpp>

#include <cstdint>
#include <vector>

namespace layers_typed_gradcheck_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using V = std::vector<double>;

namespace {
V normal(std::size_t n, std::uint64_t seed, double stddev = 1.0) {
  V v(n);
  gradcheck::fill_normal(v.data(), n, seed, stddev);
  return v;
}
// Moves a layer's parameters off their initial values (gains 1, biases 0).
template <class L>
void perturb(L& layer, std::uint64_t seed) {
  auto p = layer.parameters();
  const V r = normal(p.size(), seed, 0.2);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] += r[i];
}
// Checks the layer's parameter gradients and dx against `loss`.
template <class L, class Loss>
void check_layer(L& layer, V& x, const V& dx, Loss&& loss, std::size_t samples) {
  auto p = layer.parameters();
  auto g = layer.gradients();
  REQUIRE(g.size() == p.size());
  gradcheck::check("parameters", p.data(), p.size(), g.data(), loss, samples);
  gradcheck::check("dx", x.data(), x.size(), dx.data(), loss, samples);
}
}  // namespace

TEST_CASE("typed linear: class backward", "[gradcheck][typed][linear]") {
  layers::linear<7, 9, f64> lin({.seed = 1, .range = 0.5});
  perturb(lin, 2);
  const int n = 5;
  V x = normal(n * 7, 3), r = normal(n * 9, 4), y(n * 9), dx(x.size());
  auto loss = [&] {
    lin.forward(n, x.data(), y.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  lin.backward(n, x.data(), r.data(), dx.data());
  check_layer(lin, x, dx, loss, 1000);
}

TEST_CASE("typed layernorm: class backward", "[gradcheck][typed][layernorm]") {
  using L = layers::layernorm<13, f64>;
  L ln;
  perturb(ln, 5);
  const int n = 4;
  L::workspace w(n);
  V x = normal(n * 13, 6, 2.0), r = normal(n * 13, 7), y(x.size()), dx(x.size());
  auto loss = [&] {
    ln.forward(w, n, x.data(), y.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  ln.backward(w, n, x.data(), r.data(), dx.data());
  check_layer(ln, x, dx, loss, 1000);
}

namespace {
template <attention_kind K>
void check_attention(bool padded) {
  using L = layers::attention<12, 3, f64, K>;
  L att({.seed = 8, .range = 0.4});
  perturb(att, 9);
  const int batch = 2, seq = 6, n = batch * seq;
  typename L::workspace w(batch, seq);
  std::vector<std::int32_t> lengths{seq, padded ? 4 : seq};
  const layers::attention_shape s{batch, seq, lengths.data()};
  V x = normal(n * 12, 10), res = normal(n * 12, 11), r = normal(n * 12, 12), y(x.size()), dx(x.size());
  auto loss = [&] {
    att.forward(w, s, x.data(), y.data(), res.data());
    return gradcheck::dot(r.data(), y.data(), y.size());
  };
  loss();
  att.backward(w, s, x.data(), r.data(), dx.data());
  check_layer(att, x, dx, loss, 400);
}
}  // namespace

TEST_CASE("typed attention: class backward, bidirectional with padding", "[gradcheck][typed][attention]") {
  check_attention<attention_kind::bidirectional>(true);
}
TEST_CASE("typed attention: class backward, causal", "[gradcheck][typed][attention]") {
  check_attention<attention_kind::causal>(false);
}

TEST_CASE("typed feed-forward: class backward, both GELUs", "[gradcheck][typed][feed_forward]") {
  auto run = [](auto ff) {
    using L = decltype(ff);
    perturb(ff, 13);
    const int n = 6;
    typename L::workspace w(n);
    V x = normal(n * 9, 14), r = normal(n * 9, 15), y(x.size()), dx(x.size());
    auto loss = [&] {
      ff.forward(w, n, x.data(), y.data());
      return gradcheck::dot(r.data(), y.data(), y.size());
    };
    loss();
    ff.backward(w, n, x.data(), r.data(), dx.data());
    check_layer(ff, x, dx, loss, 400);
  };
  run(layers::feed_forward<9, 17, f64, gelu_kind::erf>({.seed = 16, .range = 0.5}));
  run(layers::feed_forward<9, 17, f64, gelu_kind::tanh>({.seed = 17, .range = 0.5}));
}

namespace {
template <layers::block_options O>
void check_block() {
  using L = layers::block<8, 2, 12, f64, O>;
  L blk({.seed = 18, .range = 0.4});
  perturb(blk, 19);
  const int batch = 2, seq = 5, n = batch * seq;
  typename L::workspace w(batch, seq);
  std::vector<std::int32_t> lengths{seq, 3};
  const layers::attention_shape s{batch, seq, lengths.data()};
  V x = normal(n * 8, 20), r = normal(n * 8, 21), dx(x.size());
  auto loss = [&] { return gradcheck::dot(r.data(), blk.forward(w, s, x.data()), r.size()); };
  loss();
  blk.backward(w, s, x.data(), r.data(), dx.data());
  check_layer(blk, x, dx, loss, 600);
}
}  // namespace

TEST_CASE("typed block: class backward, post-LN (BERT)", "[gradcheck][typed][block]") {
  check_block<layers::block_options{.eps = 1e-5}>();
}
TEST_CASE("typed block: class backward, pre-LN (GPT-2)", "[gradcheck][typed][block]") {
  check_block<layers::gpt2_block>();
}

}  // namespace layers_typed_gradcheck_tests
