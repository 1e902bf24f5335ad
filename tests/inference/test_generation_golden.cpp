// Golden test: generation against Hugging Face GPT2LMHeadModel.generate
// (fixture from tools/make_generation_golden.py; float64 reference). Our
// cached next-token logits equal HF's, greedy generation of a batch of
// prompts of different lengths (HF: left padding + attention mask) and
// greedy with a repetition penalty give HF's tokens, and our filtered
// sampling distributions equal what HF's logits processors
// (RepetitionPenalty, Temperature, TopK, TopP, MinP) leave.
#include <catch2/catch.hpp>

#include "generation_common.hpp"

#include <autodidact/io/hf_names.hpp>
#include <autodidact/io/json.hpp>
#include <autodidact/io/safetensors.hpp>

#include <cmath>
#include <string>

namespace inference_generation_golden_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using namespace gen_test;

namespace {

const io::safetensors_file& fixture() {
  static const io::safetensors_file f =
      io::safetensors_file::open(std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/generation/gpt2_generate.safetensors");
  return f;
}

std::vector<std::int32_t> ids(const std::string& name) {
  const auto v = fixture().read<std::int64_t>(name);
  return {v.begin(), v.end()};
}

template <class P>
std::unique_ptr<model_t<P>> load_model() {
  const auto& f = fixture();
  REQUIRE(std::stoi(f.metadata().at("vocab_size")) == gpt2_odd.vocab);
  REQUIRE(std::stoi(f.metadata().at("n_embd")) == gpt2_odd.d_model);
  REQUIRE(std::stoi(f.metadata().at("n_layer")) == gpt2_odd.layers);
  auto m = std::make_unique<model_t<P>>(1, 16, models::init_options{.zeros = true});
  io::load_hf_parameters<gpt2_odd>(f, model_t<P>::layout, io::hf_naming::gpt2_lm, m->parameters(), "param.");
  m->pack_weights();
  return m;
}

template <class P>
void check_against_hf(double logits_tol, bool tokens) {
  using T = typename P::compute_type;
  const auto& f = fixture();
  const auto m = load_model<P>();
  const int batch = 3;
  const std::int32_t eos = std::stoi(f.metadata().at("eos"));
  const int new_tokens = std::stoi(f.metadata().at("new_tokens"));
  std::vector<std::vector<std::int32_t>> ps;
  for (int b = 0; b < batch; ++b) ps.push_back(ids("greedy.prompt." + std::to_string(b)));

  // Next-token logits after each prompt (one cached prefill of the batch).
  inference::kv_cache<gpt2_odd, T> cache(batch, 40);
  inference::decode_workspace<gpt2_odd, T> ws(batch, 16);
  std::vector<std::int32_t> rows, counts;
  for (const auto& p : ps) {
    rows.insert(rows.end(), p.begin(), p.end());
    counts.push_back(std::int32_t(p.size()));
  }
  inference::cached_forward(*m, cache, ws, rows, counts);
  for (int b = 0; b < batch; ++b) {
    const auto ref = f.read<double>("logits." + std::to_string(b));
    double err = 0, mag = 0;
    for (int i = 0; i < gpt2_odd.vocab; ++i) {
      err = std::max(err, std::abs(double(ws.logits(b)[i]) - ref[std::size_t(i)]));
      mag = std::max(mag, std::abs(ref[std::size_t(i)]));
    }
    INFO("logits after prompt " << b);
    CHECK(err <= logits_tol * mag);
  }
  if (!tokens) return;

  // Greedy, batched, eos as stop token.
  inference::generator gen(*m, batch, 40, 4);
  const std::array<std::int32_t, 1> stops{eos};
  gen.generate(spans(ps), {.max_new_tokens = new_tokens, .stop_tokens = stops});
  for (int b = 0; b < batch; ++b) {
    INFO("greedy sequence " << b);
    CHECK(std::ranges::equal(gen.generated(b), ids("greedy.tokens." + std::to_string(b))));
  }
  // Greedy with a repetition penalty.
  const auto pp = ids("penalty.prompt");
  const std::vector<std::span<const std::int32_t>> one{pp};
  gen.generate(one, {.max_new_tokens = new_tokens,
                     .sampling = {.repetition_penalty = std::stod(f.metadata().at("penalty"))},
                     .stop_tokens = stops});
  CHECK(std::ranges::equal(gen.generated(0), ids("penalty.tokens")));
}

}  // namespace

TEST_CASE("generation_golden: cached logits and greedy generate match Hugging Face (double)", "[golden]") {
  check_against_hf<f64>(1e-10, true);
}

TEST_CASE("generation_golden: cached logits match Hugging Face (float)", "[golden]") {
  check_against_hf<f32>(1e-5, true);
}

TEST_CASE("generation_golden: filtered sampling distributions equal HF's logits processors", "[golden]") {
  const auto& f = fixture();
  const auto cases = autodidact::detail::parse_json(f.metadata().at("cases"));
  constexpr int v = gpt2_odd.vocab;
  int checked = 0;
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    const auto& c = it.value();
    const int b = c.at("prompt").get<int>();
    inference::sampling_options o{.do_sample = true};
    if (c.contains("temperature")) o.temperature = c.at("temperature").get<double>();
    if (c.contains("top_k")) o.top_k = c.at("top_k").get<int>();
    if (c.contains("top_p")) o.top_p = c.at("top_p").get<double>();
    if (c.contains("min_p")) o.min_p = c.at("min_p").get<double>();
    if (c.contains("repetition_penalty")) o.repetition_penalty = c.at("repetition_penalty").get<double>();
    const auto prompt = ids("greedy.prompt." + std::to_string(b));
    std::vector<std::uint8_t> seen(v, 0);
    for (auto id : prompt) seen[std::size_t(id)] = 1;
    std::vector<double> logits = f.read<double>("logits." + std::to_string(b)), probs(v);
    std::vector<std::int32_t> order(v);
    inference::apply_repetition_penalty(v, logits.data(), seen.data(), o.repetition_penalty);
    inference::filter_scores(v, logits.data(), o, probs.data(), order.data());
    const auto ref = f.read<double>("dist." + it.key() + ".probs");
    double err = 0;
    int kept_ours = 0, kept_ref = 0;
    for (int i = 0; i < v; ++i) {
      err = std::max(err, std::abs(probs[std::size_t(i)] - ref[std::size_t(i)]));
      kept_ours += probs[std::size_t(i)] > 0;
      kept_ref += ref[std::size_t(i)] > 0;
    }
    INFO("case " << it.key());
    CHECK(kept_ours == kept_ref);  // the same tokens survive the filters
    CHECK(err <= 1e-12);
    ++checked;
  }
  CHECK(checked == 7);
}

}  // namespace inference_generation_golden_tests
