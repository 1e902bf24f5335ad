// minilm_embed: times all-MiniLM-L6-v2 sentence embeddings (our side of
// benchmarks/compare/minilm; tools/peers/minilm.py times the peers on the
// same inputs and prints the same lines).
//
//   minilm_embed --inputs <inputs.json> [--model <dir>] [--threads N] [--min-time S]
//
// inputs.json (written by tools/peers/minilm.py --make-inputs):
//   {"latency_text": "...", "latency_tokens": 128, "batch_texts": [32 texts], "max_length": 256}
// Prints, for each case, "<case> <value> <unit>":
//   latency_b1_t128_notok     ms per sentence (median), ids ready
//   latency_b1_t128_tok       ms per sentence (median), tokenization included
//   throughput_b32_mixed_notok  sentences/s (median batch time), ids ready, padded to the longest
//   throughput_b32_mixed_tok    sentences/s, tokenization included

#include <algorithm>  // for std::sort
#include <chrono>     // for std::chrono::steady_clock
#include <cstdio>     // for std::printf, std::fprintf
#include <cstdlib>    // for std::atoi, std::atof
#include <fstream>    // for std::ifstream
#include <string>     // for std::string
#include <vector>     // for std::vector

#if defined(_OPENMP)
#include <omp.h>  // for omp_set_num_threads
#endif

#include <nlohmann/json.hpp>  // for nlohmann::json

#include "autodidact/inference/sentence_embedding.hpp"  // for sentence_encoder

namespace inf = autodidact::inference;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds of f() over at least `min_runs` runs and `min_time` seconds
// (after one warm-up run).
template <class F>
double median_seconds(F&& f, int min_runs, double min_time) {
  f();
  std::vector<double> t;
  const double start = now_seconds();
  while (static_cast<int>(t.size()) < min_runs || now_seconds() - start < min_time) {
    const double a = now_seconds();
    f();
    t.push_back(now_seconds() - a);
    if (t.size() >= 1000) break;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir = AUTODIDACT_MINILM_DIR, inputs_path;
  int threads = 1;
  double min_time = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model_dir = argv[i + 1];
    else if (a == "--inputs") inputs_path = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--min-time") min_time = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "minilm_embed: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (inputs_path.empty()) {
    std::fprintf(stderr, "usage: minilm_embed --inputs <inputs.json> [--model DIR] [--threads N] [--min-time S]\n");
    return 2;
  }
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#else
  if (threads != 1) std::fprintf(stderr, "minilm_embed: built without OpenMP, running on 1 thread\n");
#endif
  std::ifstream in(inputs_path);
  const nlohmann::json j = nlohmann::json::parse(in);
  const std::string latency_text = j.at("latency_text");
  const int latency_tokens = j.at("latency_tokens");
  const auto batch_texts = j.at("batch_texts").get<std::vector<std::string>>();
  const int max_length = j.at("max_length");

  // Latency: one sentence truncated at 128 tokens.
  inf::sentence_encoder<> one(model_dir, {.max_batch = 1, .max_length = latency_tokens});
  const std::vector<std::string> single{latency_text};
  std::vector<float> out1(inf::sentence_encoder<>::dim);
  const inf::token_batch ids1 = one.tokenize(single);
  if (ids1.seq != latency_tokens) {
    std::fprintf(stderr, "minilm_embed: the latency text has %d tokens, expected %d\n", ids1.seq, latency_tokens);
    return 1;
  }
  const double lat_notok = median_seconds([&] { one.embed(ids1, out1); }, 10, min_time);
  const double lat_tok = median_seconds([&] { one.embed(one.tokenize(single), out1); }, 10, min_time);
  std::printf("latency_b1_t128_notok %.4f ms\n", lat_notok * 1e3);
  std::printf("latency_b1_t128_tok %.4f ms\n", lat_tok * 1e3);

  // Throughput: one batch of mixed lengths, padded to its longest.
  const int b = static_cast<int>(batch_texts.size());
  inf::sentence_encoder<> many(model_dir, {.max_batch = b, .max_length = max_length});
  std::vector<float> outb(static_cast<std::size_t>(b) * inf::sentence_encoder<>::dim);
  const inf::token_batch idsb = many.tokenize(batch_texts);
  const double thr_notok = median_seconds([&] { many.embed(idsb, outb); }, 3, min_time);
  const double thr_tok = median_seconds([&] { many.embed(many.tokenize(batch_texts), outb); }, 3, min_time);
  std::printf("throughput_b32_mixed_notok %.3f sentences/s\n", b / thr_notok);
  std::printf("throughput_b32_mixed_tok %.3f sentences/s\n", b / thr_tok);
  std::fprintf(stderr, "minilm_embed: threads %d, batch %d x %d tokens (real %d..%d)\n", threads, b, idsb.seq,
               *std::min_element(idsb.lengths.begin(), idsb.lengths.end()),
               *std::max_element(idsb.lengths.begin(), idsb.lengths.end()));
  return 0;
}
