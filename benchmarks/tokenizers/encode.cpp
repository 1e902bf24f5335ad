// Encoding throughput on the first 20,000 lines of the test corpus (mostly
// English, German and Russian prose), one thread; bytes/s counts UTF-8 input.
// tools/tokenizer_peer.py measures Hugging Face tokenizers on the same lines.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autodidact/tokenizers/tokenizers.hpp"

namespace tk = autodidact::tokenizers;

namespace {
const std::vector<std::string>& lines() {
  static const std::vector<std::string> v = [] {
    std::ifstream in(AUTODIDACT_TOKENIZER_CORPUS);
    std::vector<std::string> out;
    std::string l;
    while (out.size() < 20000 && std::getline(in, l)) out.push_back(l);
    return out;
  }();
  return v;
}

template <class Tok>
void run(benchmark::State& state, const Tok& tok) {
  const auto& ls = lines();
  std::size_t bytes = 0;
  for (const auto& l : ls) bytes += l.size() + 1;
  tk::encode_options o;
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto& l : ls) n += tok.encode(l, o).size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
}  // namespace

static void tokenizers_wordpiece_minilm(benchmark::State& state) {
  static const auto tok = tk::load_wordpiece_tokenizer_json(std::string(AUTODIDACT_MINILM_DIR) + "/tokenizer.json");
  run(state, tok);
}
BENCHMARK(tokenizers_wordpiece_minilm)->Unit(benchmark::kMillisecond);

static void tokenizers_byte_level_bpe(benchmark::State& state) {
  static const auto tok = tk::load_byte_level_bpe_tokenizer_json(std::string(AUTODIDACT_TOKENIZER_GOLDEN_DIR) + "/bpe_tokenizer.json");
  run(state, tok);
}
BENCHMARK(tokenizers_byte_level_bpe)->Unit(benchmark::kMillisecond);
