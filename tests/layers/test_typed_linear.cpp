// The typed Linear's packed weights (layers/typed/linear.hpp): forward from
// the packed copy gives bitwise the unpacked forward (packing only copies
// W into the GEMM's layout), owning or bound, with and without an
// epilogue and a bias, in f32 and f64; the bias-free Linear's table and
// memory; bound to a model's arena, the pooler's, the NSP head's and the
// tied LM head's Linears compute what the model computes. The static_asserts' sentences are checked by tests/compile_fail
// (layer_zero_width, layer_zero_input, layer_bf16_linear).
#include <catch2/catch.hpp>

#include <autodidact/core/arena.hpp>
#include <autodidact/core/rng.hpp>
#include <autodidact/layers/typed/linear.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace layers_typed_linear_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

namespace {
template <class T>
std::vector<T> normal(std::size_t n, std::uint64_t seed) {
  std::vector<T> v(n);
  const philox_rng rng(seed, rng_stream::user);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(rng.normal2(0, static_cast<std::uint32_t>(i))[0]);
  return v;
}
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Forward of `lin` on n rows unpacked and packed (with a GELU epilogue
// keeping its pre-activation, and with none): the same bits.
template <class L>
void check_packed_is_unpacked(const L& lin, int n) {
  using T = typename L::T;
  arena<T> packed(L::packed_elements, "test: the packed weight");
  const layers::linear_packed<T> view = lin.pack(packed.span());
  REQUIRE(view.weight == packed.data());
  REQUIRE(lin.params(view).weight_packed == packed.data());
  REQUIRE(lin.params().weight_packed == nullptr);
  const std::vector<T> x = normal<T>(std::size_t(n) * L::in_features, 11);
  const std::size_t ny = std::size_t(n) * L::out_features;
  std::vector<T> y(ny), y_packed(ny, T(-1));
  lin.forward(n, x.data(), y.data());
  lin.forward(n, x.data(), y_packed.data(), {}, view);
  CHECK(same_bits(y, y_packed));
  std::vector<T> g(ny), g_packed(ny, T(-1)), pre(ny), pre_packed(ny, T(-1));
  kernels::gemm_epilogue<T> ep{}, ep_packed{};
  ep.act = ep_packed.act = kernels::activation::gelu_erf;
  ep.pre_activation = pre.data();
  ep_packed.pre_activation = pre_packed.data();
  lin.forward(n, x.data(), g.data(), ep);
  lin.forward(n, x.data(), g_packed.data(), ep_packed, view);
  CHECK(same_bits(g, g_packed));
  CHECK(same_bits(pre, pre_packed));
}
}  // namespace

TEST_CASE("typed linear: forward from the packed weight is bitwise the unpacked forward", "[unit][typed][linear]") {
  SECTION("f32, owning, widths off the GEMM's panel grid") {
    const layers::linear<40, 19> lin({.seed = 5, .range = 0.3});
    for (int n : {1, 7, 33}) check_packed_is_unpacked(lin, n);
  }
  SECTION("f64, owning") {
    const layers::linear<13, 7, f64> lin({.seed = 6, .range = 0.3});
    for (int n : {2, 17}) check_packed_is_unpacked(lin, n);
  }
  SECTION("f32, bound to caller memory, frozen") {
    using L = layers::linear<24, 24>;
    arena<float> params(L::parameter_elements);
    L lin(params.span(), {});
    lin.initialize({.seed = 7, .range = 0.2});
    check_packed_is_unpacked(lin, 9);
  }
  SECTION("f32 without a bias") {
    const layers::linear<32, 50, f32, false> lin({.seed = 8, .range = 0.2});
    check_packed_is_unpacked(lin, 5);
  }
}

TEST_CASE("typed linear: the packed view follows the weights it was packed from", "[unit][typed][linear]") {
  using L = layers::linear<16, 9>;
  L lin({.seed = 9, .range = 0.5});
  arena<float> packed(L::packed_elements, "test: the packed weight");
  const std::vector<float> x = normal<float>(4 * 16, 12);
  std::vector<float> y(4 * 9), y_packed(4 * 9);
  lin.pack(packed.span());
  lin.parameter(L::weight)[3] += 1.0f;  // a stale copy would now differ
  const auto view = lin.pack(packed.span());
  lin.forward(4, x.data(), y.data());
  lin.forward(4, x.data(), y_packed.data(), {}, view);
  CHECK(same_bits(y, y_packed));
  // Too little memory is named.
  arena<float> small(8, "test: too small");
  CHECK_THROWS_WITH(lin.pack(small.span()), Catch::Contains("packed_elements"));
}

TEST_CASE("typed linear without a bias: its table, memory and math", "[unit][typed][linear]") {
  using L = layers::linear<24, 10, f32, false>;
  STATIC_REQUIRE(!L::has_bias);
  STATIC_REQUIRE(!L::table()[L::bias].present());
  STATIC_REQUIRE(L::plan.offsets[L::bias] == models::npos);
  STATIC_REQUIRE(L::parameter_elements == 240);  // [10, 24] alone (240 floats is a multiple of 16)
  STATIC_REQUIRE(layers::linear<24, 10>::plan.offsets[L::weight] == L::plan.offsets[L::weight]);
  L lin({.seed = 10, .range = 0.5});
  CHECK(lin.params().bias == nullptr);
  CHECK(lin.grads().bias == nullptr);
  CHECK(lin.parameter(L::bias).empty());
  const int n = 6;
  const std::vector<float> x = normal<float>(n * 24, 13), dy = normal<float>(n * 10, 14);
  std::vector<float> y(n * 10), y2(n * 10), dx(n * 24), dx2(n * 24);
  lin.forward(n, x.data(), y.data());
  lin.backward(n, x.data(), dy.data(), dx.data());
  std::vector<float> w(lin.parameter(L::weight).begin(), lin.parameter(L::weight).end()), dw(w.size());
  const layers::linear_params<float> p{w.data(), nullptr, 24, 10};
  layers::linear_forward(p, n, x.data(), y2.data());
  layers::linear_backward(p, {dw.data(), nullptr}, n, x.data(), dy.data(), dx2.data());
  CHECK(same_bits(y, y2));
  CHECK(same_bits(dx, dx2));
  CHECK(std::memcmp(lin.gradient(L::weight).data(), dw.data(), dw.size() * sizeof(float)) == 0);
}

TEST_CASE("typed linear bound to a model's arena computes the model's pooler, NSP and LM heads",
          "[unit][typed][linear]") {
  const int batch = 2, seq = 7;
  std::vector<std::int32_t> lengths{seq, 5};
  SECTION("encoder: the pooler and the NSP head") {
    constexpr model_config C = tiny_encoder;
    static_assert(C.pooler);
    using model_t = models::encoder<C, f32>;
    using L = layers::linear<C.d_model, C.d_model>;
    STATIC_REQUIRE(L::parameter_elements == model_t::layout.pooler.end - model_t::layout.pooler.begin);
    model_t model(batch, seq, {.seed = 3});
    std::vector<std::int32_t> ids(batch * seq);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 37 + 3) % C.vocab);
    model.forward({ids, {}, lengths, batch, seq});
    // The pooler viewed in place (frozen), unpacked and packed.
    const L pooler(model.parameters().subspan(model_t::layout.pooler[models::pooler_module::weight],
                                              L::parameter_elements),
                   {});
    std::vector<float> cls(batch * C.d_model), pooled(batch * C.d_model), pooled_packed(batch * C.d_model);
    for (int b = 0; b < batch; ++b)
      for (int j = 0; j < C.d_model; ++j) cls[b * C.d_model + j] = model.hidden().data()[b * seq * C.d_model + j];
    arena<float> packed(L::packed_elements, "test: the pooler's packed weight");
    pooler.forward(batch, cls.data(), pooled.data());
    pooler.forward(batch, cls.data(), pooled_packed.data(), {}, pooler.pack(packed.span()));
    CHECK(same_bits(pooled, pooled_packed));
    for (float& v : pooled) v = std::tanh(v);
    CHECK(std::memcmp(pooled.data(), model.pooled().data(), pooled.size() * sizeof(float)) == 0);
    // The NSP head, typed as the encoder types it.
    using N = heads::nsp_head::layer_type<C, f32>;
    const N nsp(model.parameters().subspan(model_t::layout.head<heads::nsp_head>()[heads::nsp_head::weight],
                                           N::parameter_elements),
                {});
    std::vector<float> logits(batch * 2);
    nsp.forward(batch, model.pooled().data(), logits.data());
    CHECK(std::memcmp(logits.data(), model.nsp_logits().data(), logits.size() * sizeof(float)) == 0);
  }
  SECTION("decoder: the tied LM head views the token embedding") {
    constexpr model_config C = tiny_decoder;
    static_assert(C.tied_lm_head);
    using model_t = models::decoder<C, f32>;
    using L = heads::lm_head::layer_type<C, f32>;
    STATIC_REQUIRE(!L::has_bias);
    model_t model(batch, seq, {.seed = 4});
    std::vector<std::int32_t> ids(batch * seq);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 41 + 7) % C.vocab);
    model.forward({ids, {}, lengths, batch, seq});
    const L head(model.parameters().subspan(model_t::layout.embeddings[models::embeddings_module::token],
                                            L::parameter_elements),
                 {});
    CHECK(head.params().weight == model.embedding_parameters().token);
    std::vector<float> logits(std::size_t(batch) * seq * C.vocab);
    head.forward(batch * seq, model.hidden().data(), logits.data());
    CHECK(std::memcmp(logits.data(), model.logits().data(), logits.size() * sizeof(float)) == 0);
  }
}

}  // namespace layers_typed_linear_tests
