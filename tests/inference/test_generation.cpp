// Generation with a KV cache (inference/generation.hpp): the cached path
// equals recomputing the whole prefix at every step, batched prompts of
// different lengths equal their separate runs, stop tokens, length limits,
// the callback, seeding, and the named errors on bad input.
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include <autodidact/kernels/reference/attention.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace inference_generation_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using namespace gen_test;

namespace {

struct reference_step {
  std::int32_t token;
  double margin;  // top-1 minus top-2 logit
};

// Greedy decoding by running forward() on the whole prefix every step.
template <class P>
std::vector<reference_step> recompute_greedy(model_t<P>& m, std::vector<std::int32_t> seq, int new_tokens) {
  std::vector<reference_step> out;
  for (int s = 0; s < new_tokens && int(seq.size()) < gpt2_odd.max_positions; ++s) {
    const int n = int(seq.size());
    m.forward({seq, {}, {}, 1, n});
    const auto* row = m.logits().data() + std::ptrdiff_t(n - 1) * gpt2_odd.vocab;
    const std::int32_t best = inference::greedy_token(gpt2_odd.vocab, row);
    double second = -1e300;
    for (int i = 0; i < gpt2_odd.vocab; ++i)
      if (i != best) second = std::max(second, double(row[i]));
    out.push_back({best, double(row[best]) - second});
    seq.push_back(best);
  }
  return out;
}

}  // namespace

TEST_CASE("generation_cached_forward: logits equal a full forward of the prefix (double)", "[generation]") {
  auto m = make_model<f64>();
  const auto ps = prompts({7, 13, 1});
  inference::kv_cache<gpt2_odd, double> cache(3, 40);
  inference::decode_workspace<gpt2_odd, double> ws(3, 4);  // chunks of 4: 2, 4 and 1 chunks
  std::vector<std::vector<std::int32_t>> seqs = ps;
  auto check = [&](int b) {
    const auto& s = seqs[std::size_t(b)];
    const int n = int(s.size());
    m->forward({s, {}, {}, 1, n});
    const double* ref = m->logits().data() + std::ptrdiff_t(n - 1) * gpt2_odd.vocab;
    double err = 0, mag = 0;
    for (int i = 0; i < gpt2_odd.vocab; ++i) {
      err = std::max(err, std::abs(ws.logits(b)[i] - ref[i]));
      mag = std::max(mag, std::abs(ref[i]));
    }
    INFO("sequence " << b << " of length " << n);
    CHECK(cache.length(b) == n);
    CHECK(err <= 1e-10 * mag);
  };
  // Prefill in chunks (each sequence's logits are those of the last call
  // that fed it), then 5 steps feeding fixed tokens.
  for (int offset = 0; offset < 13; offset += 4) {
    std::vector<std::int32_t> rows, counts;
    for (const auto& p : ps) {
      const int n = std::max(0, std::min(4, int(p.size()) - offset));
      counts.push_back(n);
      for (int i = 0; i < n; ++i) rows.push_back(p[std::size_t(offset + i)]);
    }
    inference::cached_forward(*m, cache, ws, rows, counts);
    for (int b = 0; b < 3; ++b)
      if (counts[std::size_t(b)] > 0 && offset + counts[std::size_t(b)] == int(ps[std::size_t(b)].size())) check(b);
  }
  for (int step = 0; step < 5; ++step) {
    std::vector<std::int32_t> rows, counts;
    for (int b = 0; b < 3; ++b) {
      // Sequence 1 skips odd steps (a finished sequence feeds nothing).
      const bool feed = b != 1 || step % 2 == 0;
      counts.push_back(feed ? 1 : 0);
      if (feed) {
        rows.push_back(std::int32_t((step * 31 + b * 7) % gpt2_odd.vocab));
        seqs[std::size_t(b)].push_back(rows.back());
      }
    }
    inference::cached_forward(*m, cache, ws, rows, counts);
    for (int b = 0; b < 3; ++b)
      if (counts[std::size_t(b)] > 0) check(b);
  }
}

TEST_CASE("generation_greedy: cached generation equals recomputing the prefix (double: identical tokens)",
          "[generation]") {
  auto m = make_model<f64>();
  const auto ps = prompts({5, 11, 1, 8});
  inference::generator gen(*m, 4, 40, /*prefill_chunk=*/4);
  gen.generate(spans(ps), {.max_new_tokens = 24});
  for (int b = 0; b < 4; ++b) {
    INFO("sequence " << b);
    const auto ref = recompute_greedy(*m, ps[std::size_t(b)], 24);
    const auto got = gen.generated(b);
    REQUIRE(got.size() == ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == ref[i].token);
    CHECK(gen.reason(b) == inference::finish_reason::max_new_tokens);
    // The sequence is prompt + generated.
    CHECK(std::equal(ps[std::size_t(b)].begin(), ps[std::size_t(b)].end(), gen.sequence(b).begin()));
  }
}

TEST_CASE("generation_greedy_float: identical tokens up to the first step with a top-two margin < 1e-4",
          "[generation]") {
  auto m = make_model<f32>();
  const auto ps = prompts({6, 12, 3});
  inference::generator gen(*m, 3, 44, 8);
  gen.generate(spans(ps), {.max_new_tokens = 30});
  int compared = 0;
  for (int b = 0; b < 3; ++b) {
    INFO("sequence " << b);
    const auto ref = recompute_greedy(*m, ps[std::size_t(b)], 30);
    const auto got = gen.generated(b);
    REQUIRE(got.size() == ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) {
      if (ref[i].margin < 1e-4) break;  // float noise may flip this choice
      CHECK(got[i] == ref[i].token);
      ++compared;
    }
  }
  CHECK(compared >= 30);  // the comparison is not vacuous
}

TEST_CASE("generation_batch: a batch of prompts equals each prompt alone (sampling, per-sequence positions)",
          "[generation]") {
  auto m = make_model<f64>();
  const auto ps = prompts({9, 2, 14}, 5);
  const inference::generation_options o{
      .max_new_tokens = 12,
      .sampling = {.do_sample = true, .temperature = 0.8, .top_k = 20, .top_p = 0.95, .repetition_penalty = 1.3, .seed = 11}};
  inference::generator gen(*m, 3, 40, 5);
  gen.generate(spans(ps), o);
  for (int b = 0; b < 3; ++b) {
    // Alone, as sequence b of a batch whose other rows are the same prompt:
    // the draws are keyed by (seed, step, sequence index).
    std::vector<std::span<const std::int32_t>> same(std::size_t(b + 1), std::span<const std::int32_t>(ps[std::size_t(b)]));
    inference::generator single(*m, b + 1, 40, 3);
    single.generate(same, o);
    INFO("sequence " << b);
    CHECK(std::ranges::equal(single.generated(b), gen.generated(b)));
  }
  // Same seed: same tokens; another seed: (almost surely) others.
  inference::generator again(*m, 3, 40, 64);
  again.generate(spans(ps), o);
  for (int b = 0; b < 3; ++b) CHECK(std::ranges::equal(again.generated(b), gen.generated(b)));
  auto o2 = o;
  o2.sampling.seed = 12;
  again.generate(spans(ps), o2);
  bool differs = false;
  for (int b = 0; b < 3; ++b) differs = differs || !std::ranges::equal(again.generated(b), gen.generated(b));
  CHECK(differs);
}

TEST_CASE("generation_temperature: temperature <= 0 with sampling is greedy", "[generation]") {
  auto m = make_model<f64>();
  const auto ps = prompts({6, 3});
  inference::generator a(*m, 2, 30), b(*m, 2, 30);
  a.generate(spans(ps), {.max_new_tokens = 10});
  for (double t : {0.0, -1.0}) {
    b.generate(spans(ps), {.max_new_tokens = 10, .sampling = {.do_sample = true, .temperature = t, .seed = 5}});
    for (int s = 0; s < 2; ++s) CHECK(std::ranges::equal(a.generated(s), b.generated(s)));
  }
}

TEST_CASE("generation_stop: stop tokens, max_length, the callback and its early stop", "[generation]") {
  auto m = make_model<f64>();
  const auto ps = prompts({4, 7});
  inference::generator gen(*m, 2, 20);
  gen.generate(spans(ps), {.max_new_tokens = 10});
  const std::int32_t stop = gen.generated(0)[3];  // the 4th token of sequence 0 becomes a stop token
  std::vector<std::pair<int, std::int32_t>> streamed;
  const std::array<std::int32_t, 1> stops{stop};
  gen.generate(spans(ps), {.max_new_tokens = 10, .stop_tokens = stops},
               [&](int s, std::int32_t t) { streamed.emplace_back(s, t); });
  const auto g0 = gen.generated(0);
  REQUIRE(g0.size() >= 1);
  CHECK(g0.back() == stop);  // emitted, then stopped
  CHECK(g0.size() <= 4);
  CHECK(gen.reason(0) == inference::finish_reason::stop_token);
  // Every generated token was streamed once, in order per sequence.
  std::vector<std::int32_t> s0, s1;
  for (auto [s, t] : streamed) (s == 0 ? s0 : s1).push_back(t);
  CHECK(std::ranges::equal(s0, g0));
  CHECK(std::ranges::equal(s1, gen.generated(1)));
  // The cache's max_length caps prompt + generated.
  gen.generate(spans(ps), {.max_new_tokens = 100});
  CHECK(gen.sequence(1).size() == 20);
  CHECK(gen.reason(1) == inference::finish_reason::max_length);
  // A callback returning false stops its sequence.
  gen.generate(spans(ps), {.max_new_tokens = 10}, [](int s, std::int32_t) { return s != 1; });
  CHECK(gen.generated(1).size() == 1);
  CHECK(gen.reason(1) == inference::finish_reason::callback);
  CHECK(gen.generated(0).size() == 10);
  // A prompt that fills the cache gets nothing (and writes nothing past it).
  const auto full = prompts({20, 19});
  gen.generate(spans(full), {.max_new_tokens = 5});
  CHECK(gen.generated(0).empty());
  CHECK(gen.reason(0) == inference::finish_reason::max_length);
  CHECK(gen.generated(1).size() == 1);
  CHECK(gen.reason(1) == inference::finish_reason::max_length);
  // max_new_tokens = 0 generates nothing.
  gen.generate(spans(ps), {.max_new_tokens = 0});
  CHECK(gen.generated(0).empty());
}

TEST_CASE("generation_errors: bad input is a named invalid_argument", "[generation][badinput]") {
  auto m = make_model<f32>();
  inference::generator gen(*m, 2, 16);
  const auto ps = prompts({20});
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(gen.generate(spans(ps), {}), Contains("20 tokens") && Contains("max_length = 16"));
  const auto ok = prompts({3});
  const std::array<std::int32_t, 2> stops{5, gpt2_odd.vocab};
  CHECK_THROWS_WITH(gen.generate(spans(ok), {.stop_tokens = stops}),
                    Contains("stop token 101") && Contains("vocabulary [0, 101)"));
  for (double p : {0.0, -0.5, 1.5})
    CHECK_THROWS_WITH(gen.generate(spans(ok), {.sampling = {.do_sample = true, .top_p = p}}), Contains("top_p"));
  CHECK_THROWS_WITH(gen.generate(spans(ok), {.sampling = {.repetition_penalty = 0.0}}), Contains("repetition_penalty"));
  CHECK_THROWS_WITH(gen.generate(spans(ok), {.sampling = {.min_p = 2.0}}), Contains("min_p"));
  const auto three = prompts({2, 2, 2});
  CHECK_THROWS_WITH(gen.generate(spans(three), {}), Contains("3 prompts") && Contains("max_batch = 2"));
  std::vector<std::int32_t> bad{1, 2, 400};
  std::vector<std::span<const std::int32_t>> one{bad};
  CHECK_THROWS_WITH(gen.generate(one, {}), Contains("token id 400"));
  std::vector<std::int32_t> none;
  std::vector<std::span<const std::int32_t>> empty{none};
  CHECK_THROWS_WITH(gen.generate(empty, {}), Contains("empty"));
  CHECK_THROWS_AS((inference::kv_cache<gpt2_odd, float>(1, 49)), invalid_argument);
  CHECK_THROWS_WITH(gen.generate(spans(ok), {.max_new_tokens = -1}), Contains("max_new_tokens"));
}

TEST_CASE("generation_penalty: repetition penalty divides positive and multiplies negative logits",
          "[generation]") {
  std::vector<float> logits{2.0f, -2.0f, 3.0f, -1.0f};
  const std::uint8_t seen[4] = {1, 1, 0, 0};
  inference::apply_repetition_penalty(4, logits.data(), seen, 2.0);
  CHECK(logits == std::vector<float>{1.0f, -4.0f, 3.0f, -1.0f});
  // top-k keeps ties with the k-th largest; top-p drops the low tail.
  std::vector<double> s{1.0, 3.0, 3.0, 0.0, 2.0}, probs(5);
  std::vector<std::int32_t> order(5);
  inference::filter_scores(5, s.data(), {.do_sample = true, .top_k = 2}, probs.data(), order.data());
  CHECK(probs[0] == 0.0);
  CHECK(probs[4] == 0.0);
  CHECK(probs[1] == Approx(0.5));
  CHECK(probs[2] == Approx(0.5));
}

TEST_CASE("generation_attention_kernel: attention_cached_forward equals its reference twin", "[generation]") {
  const philox_rng rng(17, rng_stream::user);
  for (auto [rows, past, d] : std::vector<std::array<int, 3>>{{1, 0, 16}, {1, 149, 16}, {5, 60, 7}, {70, 0, 12}, {70, 90, 5}}) {
    const int kv = past + rows, ldq = 3 * d + 1, ldkv = d + 2, ldo = d + 3;
    std::vector<double> q(std::size_t(rows) * ldq), k(std::size_t(kv) * ldkv), v(std::size_t(kv) * ldkv),
        o(std::size_t(rows) * ldo, -1), r(std::size_t(rows) * ldo, -1);
    std::uint32_t i = 0;
    for (auto* buf : {&q, &k, &v})
      for (auto& x : *buf) x = rng.normal2(1, i++)[0];
    const kernels::softmax_mask mask{.valid_cols = kv, .causal = true, .row_offset = past};
    const double scale = 1.0 / std::sqrt(double(d));
    kernels::attention_cached_forward(rows, kv, d, scale, q.data(), ldq, k.data(), v.data(), ldkv, o.data(), ldo, mask);
    kernels::reference::attention_cached_forward(rows, kv, d, scale, q.data(), ldq, k.data(), v.data(), ldkv, r.data(),
                                                 ldo, mask);
    double err = 0;
    for (int a = 0; a < rows; ++a)
      for (int c = 0; c < d; ++c)
        err = std::max(err, std::abs(o[std::size_t(a) * ldo + c] - r[std::size_t(a) * ldo + c]));
    INFO("rows " << rows << ", past " << past << ", D " << d);
    CHECK(err <= 1e-13);
  }
}

TEST_CASE("generation_threads: identical logits and tokens on 1 and 2 OpenMP threads", "[generation]") {
#ifdef _OPENMP
  // gpt2_wide: decoding runs as one OpenMP team on 2 threads.
  auto m = make_model<f32, gpt2_wide>();
  const auto ps = prompts({6, 9}, 3);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    inference::generator gen(*m, 2, 40, 4);
    std::vector<float> logits;
    gen.generate(spans(ps), {.max_new_tokens = 12, .sampling = {.do_sample = true, .top_k = 30, .seed = 2}});
    // And the raw logits of a few decode steps through the team path.
    inference::kv_cache<gpt2_wide, float> cache(2, 40);
    inference::decode_workspace<gpt2_wide, float> ws(2, 16);
    std::vector<std::int32_t> rows(ps[0]), counts{6, 9};
    rows.insert(rows.end(), ps[1].begin(), ps[1].end());
    inference::cached_forward(*m, cache, ws, rows, counts);
    for (int s = 0; s < 4; ++s) {
      const std::vector<std::int32_t> one{std::int32_t(s + 1), std::int32_t(2 * s + 3)}, two{1, 1};
      inference::cached_forward(*m, cache, ws, one, two);
      for (int b = 0; b < 2; ++b) logits.insert(logits.end(), ws.logits(b), ws.logits(b) + gpt2_wide.vocab);
    }
    std::vector<std::int32_t> tokens;
    for (int b = 0; b < 2; ++b) tokens.insert(tokens.end(), gen.sequence(b).begin(), gen.sequence(b).end());
    return std::pair(logits, tokens);
  };
  const auto one = run(1), two = run(2);
  omp_set_num_threads(2);
  CHECK(one.second == two.second);
  CHECK(std::memcmp(one.first.data(), two.first.data(), one.first.size() * sizeof(float)) == 0);
#endif
}

}  // namespace inference_generation_tests
