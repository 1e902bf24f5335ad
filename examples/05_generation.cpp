// Example 05: embedded text generation with a KV cache.
//
// A GPT-2-shaped decoder whose size is fixed at compile time reads its
// weights from a safetensors file, allocates everything it will ever need
// at start-up (weights and their packed copy, the KV cache, the decoding
// buffers), prints that memory budget, then generates from a prompt,
// streaming each token as it is chosen, and reports the first-token latency
// (prompt in, first token out) and the decoding speed in tokens/s.
//
//   ./05_generation --weights FILE      an autodidact checkpoint of gpt2_small
//                                       (io::save_checkpoint, our names or
//                                       Hugging Face's), or a Hugging Face
//                                       GPT-2 folder (config.json +
//                                       model.safetensors)
//   ./05_generation                     gpt2_small with random weights, written
//                                       to gpt2_small_random.safetensors first
//   ./05_generation --smoke             a small model, its own random weights
//                                       file, a few tokens (CTest runs this)
//   options: --prompt 464,2068,318 (token ids)  --tokens N  --sample  --seed S
//            --threads N
//
// There is no tokenizer here: prompt and output are token ids (with the
// real GPT-2 weights, ids from its tokenizer). The program checks itself:
// it exits with status 1 if generation produced no token.

#include <autodidact/inference/generation.hpp>
#include <autodidact/io/checkpoint.hpp>
#include <autodidact/models/decoder.hpp>

#include <chrono>   // for the latency and rate
#include <cstdio>   // for std::printf
#include <cstdlib>  // for std::atoi
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>  // for omp_set_num_threads
#endif

using namespace autodidact;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// The smoke model: GPT-2's structure at a fraction of its size.
constexpr model_config smoke_config{.vocab = 512,
                                    .max_positions = 128,
                                    .d_model = 128,
                                    .heads = 4,
                                    .d_ff = 512,
                                    .layers = 4,
                                    .type_vocab = 0,
                                    .layer_norm_eps = 1e-5,
                                    .gelu = gelu_kind::tanh,
                                    .norm = norm_placement::pre,
                                    .tied_lm_head = true,
                                    .pooler = false,
                                    .attention = attention_kind::causal,
                                    .embedding_norm = false,
                                    .final_norm = true};

struct options {
  bool smoke = false, sample = false;
  std::string weights;
  std::vector<std::int32_t> prompt{464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13};
  int tokens = 64, threads = 0;
  std::uint64_t seed = 1;
};

std::vector<std::int32_t> parse_ids(const std::string& s) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = s.find(',', i);
    ids.push_back(std::stoi(s.substr(i, j == std::string::npos ? std::string::npos : j - i)));
    i = j == std::string::npos ? s.size() : j + 1;
  }
  return ids;
}

double mb(std::size_t bytes) { return double(bytes) / 1e6; }

template <model_config C>
int run(const options& opt, const fs::path& weights) {
  using model_t = models::decoder<C, f32, inference::generation_policy>;
  constexpr int max_length = C.max_positions < 1024 ? C.max_positions : 1024;

  // 1. Start-up: the model (its arena, then the weights from the file and
  //    their GEMM-ready packed copy), and a generator for one sequence.
  auto model = std::make_unique<model_t>(1, 1, models::init_options{.zeros = true});
  const auto t0 = clock_type::now();
  // Both check the file's config against C first.
  if (fs::is_directory(weights)) {
    io::load_pretrained(weights, *model);  // a Hugging Face folder: config.json + model.safetensors
  } else {
    io::load_checkpoint(weights, *model);  // an autodidact checkpoint
  }
  model->pack_weights();
  const double load_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  const model_t& shared = *model;  // from here on the model is only read
  inference::generator<model_t> gen(shared, /*max_batch=*/1, max_length);

  std::printf("== 1. memory budget (all allocated at start-up; generation allocates nothing)\n");
  std::printf("   weights          %9.1f MB  (%zu parameters, fp32)\n", mb(shared.parameter_bytes()),
              shared.parameters().size());
  std::printf("   packed weights   %9.1f MB  (the GEMM-ready copy decoding reads)\n",
              mb(shared.packed_weight_bytes()));
  std::printf("   KV cache         %9.1f MB  (%d layers x K,V x %d positions x %d channels)\n",
              mb(gen.cache_bytes()), C.layers, max_length, C.d_model);
  std::printf("   decode workspace %9.1f MB\n", mb(gen.workspace_bytes()));
  std::printf("   loaded %s in %.2f s\n", weights.string().c_str(), load_s);

  // 2. Generate, streaming each token; time the first and the rest.
  std::vector<std::int32_t> prompt;
  for (auto id : opt.prompt) prompt.push_back(id % C.vocab);
  const std::vector<std::span<const std::int32_t>> prompts{prompt};
  inference::generation_options o{.max_new_tokens = opt.tokens};
  if (opt.sample) o.sampling = {.do_sample = true, .temperature = 0.8, .top_k = 40, .top_p = 0.95, .seed = opt.seed};
  std::printf("== 2. generating %d tokens after a %zu-token prompt (%s)\n   ", opt.tokens, prompt.size(),
              opt.sample ? "temperature 0.8, top-k 40, top-p 0.95" : "greedy");
  clock_type::time_point first{}, last{};
  int count = 0;
  const auto start = clock_type::now();
  gen.generate(prompts, o, [&](int, std::int32_t token) {
    last = clock_type::now();
    if (count++ == 0) first = last;
    std::printf("%d ", token);
    std::fflush(stdout);
  });
  std::printf("\n");
  if (count == 0) {
    std::printf("no token generated\n");
    return 1;
  }
  const double first_ms = std::chrono::duration<double, std::milli>(first - start).count();
  const double rest_s = std::chrono::duration<double>(last - first).count();
  std::printf("== 3. speed\n");
  std::printf("   first-token latency %.1f ms (prompt of %zu tokens in, first token out)\n", first_ms, prompt.size());
  if (count > 1)
    std::printf("   decoding %.1f tokens/s (%d tokens after the first in %.3f s)\n", (count - 1) / rest_s, count - 1,
                rest_s);
  return 0;
}

// Random weights, written as a checkpoint the way a trained model would be.
template <model_config C>
void write_random_weights(const fs::path& path) {
  using model_t = models::decoder<C, f32, inference::generation_policy>;
  auto m = std::make_unique<model_t>(1, 1, models::init_options{.seed = 5, .initializer_range = 0.1});
  io::save_checkpoint(path, *m);
  std::printf("   wrote random weights to %s (%.1f MB)\n", path.string().c_str(), mb(fs::file_size(path)));
}

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--smoke") opt.smoke = true;
    else if (a == "--sample") opt.sample = true;
    else if (a == "--weights") opt.weights = value();
    else if (a == "--prompt") opt.prompt = parse_ids(value());
    else if (a == "--tokens") opt.tokens = std::atoi(value().c_str());
    else if (a == "--seed") opt.seed = std::stoull(value());
    else if (a == "--threads") opt.threads = std::atoi(value().c_str());
    else {
      std::printf("unknown option %s\n", a.c_str());
      return 2;
    }
  }
#ifdef _OPENMP
  if (opt.threads > 0) omp_set_num_threads(opt.threads);
  // Decoding meets its thread team six times per block and token; with
  // libgomp's default (spinning) waits, a busy second core turns each
  // meeting into a wait for a descheduled thread (measured on a shared
  // 2-core VM: 1.8 tokens/s instead of 18).
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  if (omp_get_max_threads() > 1 && (wait == nullptr || std::string(wait) != "passive"))
    std::printf("note: %d OpenMP threads with OMP_WAIT_POLICY=%s; on a shared machine run with "
                "OMP_WAIT_POLICY=passive (or --threads 1)\n",
                omp_get_max_threads(), wait ? wait : "(unset)");
#endif
  try {
    if (opt.smoke) {
      opt.tokens = 24;
      const fs::path w = "smoke_decoder.safetensors";
      write_random_weights<smoke_config>(w);
      return run<smoke_config>(opt, w);
    }
    fs::path w = opt.weights;
    if (w.empty()) {
      w = "gpt2_small_random.safetensors";
      if (!fs::exists(w)) write_random_weights<gpt2_small>(w);
    }
    return run<gpt2_small>(opt, w);
  } catch (const autodidact::error& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
