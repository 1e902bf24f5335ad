// Generation in caller-provided and static storage (models/storage.hpp
// policies on kv_cache, decode_workspace and generator; a decoder's packed
// weights inside the object with static_arenas<B, T, with_packed_weights>
// or in a caller block with borrowed_arenas): the tokens are exactly the
// heap generator's (greedy, seeded sampling with every filter, stop tokens,
// batched prompts, on the per-layer and the one-team decoding paths), the
// byte counts are constant expressions that sizeof agrees with, and bad
// sizes are named errors.
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace inference_generation_storage_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using Catch::Matchers::Contains;
using models::borrowed_arenas;
using models::static_arenas;
using models::with_packed_weights;

template <model_config C, class Storage = models::heap_arenas>
using decoder_t = models::decoder<C, f32, inference::generation_policy, Storage>;

// The model and generator types the tests (and a user's budget) name.
template <model_config C>
using static_decoder = decoder_t<C, static_arenas<1, 1, with_packed_weights>>;
template <model_config C>
using static_generator = inference::generator<static_decoder<C>, static_arenas<3, 44>, 8>;

// Compile time: every byte count is a constant, and sizeof a static object
// is its plan's count plus a little bookkeeping.
constexpr model_config odd = gen_test::gpt2_odd;
static_assert(static_decoder<odd>::packed_bytes > 0);
static_assert(sizeof(static_decoder<odd>) >= static_decoder<odd>::bytes_for(1, 1) + static_decoder<odd>::packed_bytes);
static_assert(sizeof(static_decoder<odd>) <=
              static_decoder<odd>::bytes_for(1, 1) + static_decoder<odd>::packed_bytes + 4096);
static_assert(sizeof(decoder_t<odd, static_arenas<1, 1>>) + static_decoder<odd>::packed_bytes <=
              sizeof(static_decoder<odd>));
static_assert(sizeof(static_generator<odd>) >= static_generator<odd>::bytes_for(3, 44, 8));
static_assert(sizeof(static_generator<odd>) <= static_generator<odd>::bytes_for(3, 44, 8) + 4096);
static_assert(sizeof(inference::kv_cache<odd, float, static_arenas<2, 40>>) >=
              inference::kv_cache<odd, float>::bytes_for(2, 40));
static_assert(inference::kv_cache<odd, float>::bytes_for(2, 40) >= 2u * odd.layers * 2 * 40 * odd.d_model * 4);
static_assert(sizeof(inference::decode_workspace<odd, float, static_arenas<2, 8>>) >=
              inference::decode_workspace<odd, float>::bytes_for(2, 8));
// The same counts for every policy (the plan does not depend on the owner).
static_assert(inference::generator<decoder_t<odd>>::bytes_for(3, 44, 8) ==
              inference::generator<decoder_t<odd>, borrowed_arenas>::bytes_for(3, 44, 8));

// A 64-byte-aligned caller block.
struct block {
  explicit block(std::size_t bytes) : raw(bytes + 64) {}
  std::span<std::byte> span(std::size_t bytes, std::size_t misalign = 0) {
    auto* p = raw.data();
    p += (64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64 + misalign;
    return {p, bytes};
  }
  std::vector<std::byte> raw;
};

// The weights of seed 3 (N(0, 0.2), as gen_test::make_model), copied into a
// model of any storage the way a checkpoint load would.
template <model_config C, class M>
void load_weights(M& m) {
  const auto source = std::make_unique<decoder_t<C>>(1, 1, models::init_options{.seed = 3, .initializer_range = 0.2});
  const auto from = source->parameters();
  auto to = m.parameters();
  REQUIRE(from.size() == to.size());
  std::copy(from.begin(), from.end(), to.begin());
}

const std::array<std::int32_t, 2> stops{3, 17};
std::array<inference::generation_options, 4> runs() {
  return {{
      {.max_new_tokens = 20},
      {.max_new_tokens = 20,
       .sampling = {.do_sample = true, .temperature = 0.9, .top_k = 30, .top_p = 0.9, .min_p = 0.01,
                    .repetition_penalty = 1.2, .seed = 4}},
      {.max_new_tokens = 25, .sampling = {.do_sample = true, .seed = 5}, .stop_tokens = stops},
      {.max_new_tokens = 40, .sampling = {.repetition_penalty = 1.3}},  // greedy up to max_length
  }};
}

// Every sequence of every run, in order, with its finish reason.
template <class G>
std::vector<std::vector<std::int32_t>> generate_all(G& gen) {
  const auto ps = gen_test::prompts({9, 4, 17});
  const auto views = gen_test::spans(ps);
  std::vector<std::vector<std::int32_t>> out;
  for (const auto& o : runs()) {
    gen.generate(views, o);
    for (int b = 0; b < gen.batch(); ++b) {
      const auto s = gen.sequence(b);
      out.emplace_back(s.begin(), s.end());
      out.back().push_back(-1 - static_cast<std::int32_t>(gen.reason(b)));
    }
  }
  return out;
}

template <model_config C>
void check_same_tokens() {
  // The reference: heap model (packed), heap generator. Generated once per
  // configuration, not once per SECTION (Catch2 reruns the test case for each).
  auto heap = std::make_unique<decoder_t<C>>(1, 1, models::init_options{.zeros = true});
  load_weights<C>(*heap);
  heap->pack_weights();
  static const auto expected = [&] {
    inference::generator heap_gen(std::as_const(*heap), 3, 44, 8);
    return generate_all(heap_gen);
  }();
  long generated = 0;
  for (const auto& s : expected) generated += static_cast<long>(s.size());
  CHECK(generated > 100);

  SECTION("static model (packed inside the object), static generator") {
    auto m = std::make_unique<static_decoder<C>>(models::init_options{.zeros = true});
    load_weights<C>(*m);
    m->pack_weights();
    CHECK(m->packs_weights());
    CHECK(m->packed_weights_fresh());
    CHECK(m->packed_weight_bytes() == heap->packed_weight_bytes());
    auto gen = std::make_unique<static_generator<C>>(std::as_const(*m));
    CHECK(gen->max_batch() == 3);
    CHECK(gen->max_length() == 44);
    CHECK(gen->prefill_chunk() == 8);
    CHECK(generate_all(*gen) == expected);
  }
  SECTION("static model without a packed copy (packs on the fly): the same tokens") {
    auto m = std::make_unique<decoder_t<C, static_arenas<1, 1>>>(models::init_options{.zeros = true});
    load_weights<C>(*m);
    CHECK_FALSE(m->packs_weights());
    auto gen = std::make_unique<inference::generator<decoder_t<C, static_arenas<1, 1>>, static_arenas<3, 44>, 8>>(
        std::as_const(*m));
    CHECK(generate_all(*gen) == expected);
  }
  SECTION("borrowed model (its packed copy in a second block), borrowed generator") {
    using model = decoder_t<C, borrowed_arenas>;
    block weights(model::bytes_for(1, 1)), packed(model::packed_bytes);
    model m(weights.span(model::bytes_for(1, 1)), 1, 1, models::init_options{.zeros = true});
    load_weights<C>(m);
    m.pack_weights(packed.span(model::packed_bytes));
    CHECK(m.packed_weights_fresh());
    using gen_type = inference::generator<model, borrowed_arenas>;
    const std::size_t bytes = gen_type::bytes_for(3, 44, 8);
    block mem(bytes);
    gen_type gen(std::as_const(m), mem.span(bytes), 3, 44, 8);
    CHECK(generate_all(gen) == expected);
  }
  SECTION("a static generator over the heap model, smaller than its capacity") {
    auto gen = std::make_unique<inference::generator<decoder_t<C>, static_arenas<4, 48>, 16>>(std::as_const(*heap),
                                                                                              3, 44, 8);
    CHECK(generate_all(*gen) == expected);
  }
}

TEST_CASE("generation_storage: static and borrowed storage generate exactly the heap model's tokens",
          "[generation][storage]") {
  check_same_tokens<gen_test::gpt2_odd>();
}

TEST_CASE("generation_storage: the same on the one-team decoding path (wide blocks)", "[generation][storage]") {
  check_same_tokens<gen_test::gpt2_wide>();
}

TEST_CASE("generation_storage: a static KV cache and workspace under cached_forward equal the heap ones",
          "[generation][storage]") {
  auto m = gen_test::make_model<f32>();
  const auto ps = gen_test::prompts({5, 3});
  std::vector<std::int32_t> rows, counts{5, 3};
  for (const auto& p : ps) rows.insert(rows.end(), p.begin(), p.end());
  inference::kv_cache<odd, float> heap_cache(2, 20);
  inference::decode_workspace<odd, float> heap_ws(2, 5);
  auto static_cache = std::make_unique<inference::kv_cache<odd, float, static_arenas<2, 20>>>();
  auto static_ws = std::make_unique<inference::decode_workspace<odd, float, static_arenas<2, 5>>>();
  inference::cached_forward(*m, heap_cache, heap_ws, rows, counts);
  inference::cached_forward(*m, *static_cache, *static_ws, rows, counts);
  for (int b = 0; b < 2; ++b) {
    CHECK(static_cache->length(b) == heap_cache.length(b));
    CHECK(std::memcmp(static_ws->logits(b), heap_ws.logits(b), sizeof(float) * odd.vocab) == 0);
  }
  CHECK(static_cache->bytes() == heap_cache.bytes());
}

TEST_CASE("generation_storage: bad sizes and blocks are named errors", "[generation][storage][badinput]") {
  auto m = std::make_unique<static_decoder<odd>>(models::init_options{.seed = 3, .initializer_range = 0.2});
  m->pack_weights();
  auto gen = std::make_unique<static_generator<odd>>(std::as_const(*m));

  // A prompt longer than the cache names both lengths.
  const std::vector<std::int32_t> long_prompt(45, 7);
  const std::vector<std::span<const std::int32_t>> one{long_prompt};
  CHECK_THROWS_WITH(gen->generate(one, {}), Contains("45 tokens") && Contains("max_length = 44"));

  // Run-time sizes beyond a static capacity.
  using static_cache = inference::kv_cache<odd, float, static_arenas<2, 40>>;
  CHECK_THROWS_WITH(std::make_unique<static_cache>(3, 40),
                    Contains("static_arenas<2, 40>") && Contains("3 x 40") && Contains("max_length"));
  CHECK_THROWS_WITH(std::make_unique<static_cache>(2, 41), Contains("2 x 41"));
  using static_ws = inference::decode_workspace<odd, float, static_arenas<2, 8>>;
  CHECK_THROWS_WITH(std::make_unique<static_ws>(2, 9), Contains("2 x 9") && Contains("max_rows"));
  CHECK_THROWS_WITH(std::make_unique<static_generator<odd>>(std::as_const(*m), 3, 44, 9),
                    Contains("prefill_chunk = 9") && Contains("8 rows"));
  CHECK_THROWS_WITH(std::make_unique<static_generator<odd>>(std::as_const(*m), 4, 44, 8), Contains("4 x 44"));

  // Borrowed blocks: too small (needed vs given bytes) and misaligned.
  using borrowed_cache = inference::kv_cache<odd, float, borrowed_arenas>;
  const std::size_t need = borrowed_cache::bytes_for(2, 40);
  block mem(need + 64);
  CHECK_THROWS_WITH(borrowed_cache(mem.span(need - 1), 2, 40),
                    Contains("kv_cache (borrowed_arenas)") && Contains(std::to_string(need - 1) + " bytes") &&
                        Contains("needs " + std::to_string(need) + " bytes") && Contains("2 x 40"));
  CHECK_THROWS_WITH(borrowed_cache(mem.span(need, 8), 2, 40), Contains("64-byte boundary") && Contains("8 bytes past"));
  CHECK_NOTHROW(borrowed_cache(mem.span(need), 2, 40));

  using borrowed_ws = inference::decode_workspace<odd, float, borrowed_arenas>;
  const std::size_t ws_need = borrowed_ws::bytes_for(2, 8);
  CHECK_THROWS_WITH(borrowed_ws(mem.span(ws_need - 64), 2, 8),
                    Contains("decode_workspace (borrowed_arenas)") && Contains("needs " + std::to_string(ws_need)));

  using borrowed_gen = inference::generator<static_decoder<odd>, borrowed_arenas>;
  const std::size_t gen_need = borrowed_gen::bytes_for(3, 44, 8);
  block gen_mem(gen_need + 64);
  CHECK_THROWS_WITH(borrowed_gen(std::as_const(*m), gen_mem.span(gen_need - 1), 3, 44, 8),
                    Contains("generator (borrowed_arenas)") && Contains("needs " + std::to_string(gen_need)));
  CHECK_THROWS_WITH(borrowed_gen(std::as_const(*m), gen_mem.span(gen_need, 4), 3, 44, 8),
                    Contains("64-byte boundary"));

  using borrowed_model = decoder_t<odd, borrowed_arenas>;
  block model_mem(borrowed_model::bytes_for(1, 1)), packed_mem(borrowed_model::packed_bytes + 64);
  borrowed_model bm(model_mem.span(borrowed_model::bytes_for(1, 1)), 1, 1);
  CHECK_THROWS_WITH(bm.pack_weights(packed_mem.span(borrowed_model::packed_bytes - 64)),
                    Contains("pack_weights (borrowed_arenas)") &&
                        Contains("needs " + std::to_string(borrowed_model::packed_bytes)));
  CHECK_THROWS_WITH(bm.pack_weights(packed_mem.span(borrowed_model::packed_bytes, 32)),
                    Contains("64-byte boundary"));
  CHECK_FALSE(bm.packs_weights());
}

}  // namespace inference_generation_storage_tests
