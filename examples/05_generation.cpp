// Example 05: an embedded text generator -- a fixed-size decoder in static
// storage, no heap after start-up.
//
// On a small device you want three things settled before the program runs:
// how much memory it takes (a constant the compiler checks), that nothing
// is allocated while it runs (no heap, so no fragmentation and no
// out-of-memory half-way through an answer), and how fast it answers. This
// program is such a device's generator:
//
//   * the GPT-2-shaped decoder, its packed weights, its KV cache and every
//     decoding buffer are `static` objects whose sizes are template
//     arguments (models/storage.hpp: static_arenas), so their byte budget
//     is a static_assert below;
//   * at start-up it reads the weights from a safetensors file into the
//     static model and packs them for the GEMM (inside the object too);
//   * then it generates from a prompt, streaming each token as it is chosen,
//     counting every call to operator new (the library allocates through
//     it) to show that generation makes none, and reports the first-token
//     latency (prompt in, first token out) and the decoding speed.
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
//            --heap   the same program with everything on the heap (the
//                     default storage), to compare: the tokens and the speed
//                     are the same
//
// There is no tokenizer here: prompt and output are token ids (with the
// real GPT-2 weights, ids from its tokenizer). The program checks itself:
// it exits with status 1 if generation produced no token or allocated.
// docs/embedded.md is the guide that goes with it.

#include <autodidact/inference/generation.hpp>
#include <autodidact/io/checkpoint.hpp>
#include <autodidact/models/decoder.hpp>

#include <atomic>   // for the allocation counter
#include <chrono>   // for the latency and rate
#include <cstdio>   // for std::printf
#include <cstdlib>  // for std::atoi, std::malloc, std::aligned_alloc, std::free
#include <filesystem>
#include <memory>
#include <new>  // for the operator new replacements
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>  // for omp_set_num_threads
#endif

using namespace autodidact;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Step 0: a witness. Every operator new of the program is counted while
// `counting` is on (from the end of start-up to the end of generation). The
// library's arenas, std::vector and std::string all allocate through it.
// (A sanitizer build replaces the allocator itself: no witness there. The
// test generation_static_no_allocation also counts malloc & co.)
// ---------------------------------------------------------------------------
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define EXAMPLE_COUNTS_ALLOCATIONS 1
std::atomic<bool> counting{false};
std::atomic<long> allocations_after_startup{0};
void* counted_alloc(std::size_t size, std::size_t align) {
  if (counting.load(std::memory_order_relaxed)) allocations_after_startup.fetch_add(1);
  if (size == 0) size = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(size)
                                               : std::aligned_alloc(align, (size + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new(std::size_t n) { return counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

// ---------------------------------------------------------------------------
// Step 1: the architectures. gpt2_small is GPT-2's (config.hpp); the smoke
// model is its structure at a fraction of the size.
// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------
// Step 2: the device types. Everything is fixed at compile time: the model,
// one sequence of up to max_length tokens (prompt + generated), prompts fed
// 64 tokens per call.
//   model      the decoder, inference only with its LM head, float32; its
//              arenas inside the object (static_arenas<1, 1>: its own
//              full-sequence workspace is not used by generation, so it is
//              sized for one token) plus the packed copy of its weights
//              (with_packed_weights): what makes decoding fast.
//   generator  the KV cache [L, K/V, 1, max_length, C], the decoding
//              workspace (64 rows) and the sampler's buffers, inside the
//              object (static_arenas<1, max_length>).
// ---------------------------------------------------------------------------
template <model_config C>
struct device {
  static constexpr int max_length = C.max_positions < 1024 ? C.max_positions : 1024;
  static constexpr int prefill_chunk = 64;
  using model = models::decoder<C, f32, inference::generation_policy,
                                models::static_arenas<1, 1, models::with_packed_weights>>;
  using generator = inference::generator<model, models::static_arenas<1, max_length>, prefill_chunk>;
  // The budget: sizeof both objects, a compile-time constant.
  static constexpr std::size_t bytes = sizeof(model) + sizeof(generator);
  // Where it goes, from the memory plans (also constants).
  static constexpr std::size_t weight_bytes = model::plan::parameter_bytes;
  static constexpr std::size_t packed_bytes = model::packed_bytes;
  static constexpr std::size_t cache_bytes = generator::cache_type::bytes_for(1, max_length);
  static constexpr std::size_t workspace_bytes = sizeof(generator) - cache_bytes;  // + the sampler's buffers
  static constexpr std::size_t model_rest = sizeof(model) - weight_bytes - packed_bytes;  // its 1-token workspace
};

// ---------------------------------------------------------------------------
// Step 3: the budgets, checked by the compiler. Change a size above and a
// budget that no longer holds stops the build.
// ---------------------------------------------------------------------------
// The packed weights are padded to whole column panels, whose width is the
// CPU's vector width (kernels::gemm_column_panel): the same decoder takes
// 7.9 MB where panels are 16 floats wide (AVX2) and 8.1 MB where they are 48
// (AVX-512), so a budget leaves room for the widest target it is built for.
constexpr std::size_t MB = 1000 * 1000;
static_assert(device<smoke_config>::bytes <= 9 * MB, "the smoke decoder must fit in 9 MB");
static_assert(device<gpt2_small>::bytes <= 1100 * MB,
              "GPT-2 small with packed weights and a 1024-token cache must fit in 1.1 GB");

// ---------------------------------------------------------------------------
// Step 4: the objects, `static` (never local variables: GPT-2 small's is a
// gigabyte). Each lives in the program's zero-initialised data segment and
// is constructed on first use; both configurations' objects exist in the
// binary, but only the one that runs is ever touched.
// ---------------------------------------------------------------------------
template <model_config C>
typename device<C>::model& the_model() {
  static typename device<C>::model model(models::init_options{.zeros = true});  // weights: about to be read
  return model;
}
template <model_config C>
typename device<C>::generator& the_generator() {
  static typename device<C>::generator gen(std::as_const(the_model<C>()));  // the model is only read
  return gen;
}

struct options {
  bool smoke = false, sample = false, heap = false;
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

// Reads the weights into `model` (any storage): a Hugging Face folder or an
// autodidact checkpoint; both check the file's config against the type's.
template <class Model>
void read_weights(const fs::path& weights, Model& model) {
  if (fs::is_directory(weights)) {
    io::load_pretrained(weights, model);  // config.json + model.safetensors
  } else {
    io::load_checkpoint(weights, model);
  }
}

// Steps 6-7: generate with a set-up generator, streaming and timing.
template <model_config C, class Generator>
int generate(const options& opt, Generator& gen) {
  // The prompt and the options are made before the witness starts (a
  // std::vector allocates).
  std::vector<std::int32_t> prompt;
  for (auto id : opt.prompt) prompt.push_back(id % C.vocab);
  const std::vector<std::span<const std::int32_t>> prompts{prompt};
  inference::generation_options o{.max_new_tokens = opt.tokens};
  if (opt.sample) o.sampling = {.do_sample = true, .temperature = 0.8, .top_k = 40, .top_p = 0.95, .seed = opt.seed};
  std::printf("== 2. generating %d tokens after a %zu-token prompt (%s)\n   ", opt.tokens, prompt.size(),
              opt.sample ? "temperature 0.8, top-k 40, top-p 0.95" : "greedy");
  std::fflush(stdout);
  clock_type::time_point first{}, last{};
  int count = 0;

  // Step 6: start-up is over. From here to the end of generation the
  // witness counts every operator new.
#ifdef EXAMPLE_COUNTS_ALLOCATIONS
  counting = true;
#endif
  const auto start = clock_type::now();
  gen.generate(prompts, o, [&](int, std::int32_t token) {
    last = clock_type::now();
    if (count++ == 0) first = last;
    std::printf("%d ", token);
    std::fflush(stdout);
  });
#ifdef EXAMPLE_COUNTS_ALLOCATIONS
  counting = false;
#endif
  std::printf("\n");
  if (count == 0) {
    std::printf("no token generated\n");
    return 1;
  }

  // Step 7: the report.
  const double first_ms = std::chrono::duration<double, std::milli>(first - start).count();
  const double rest_s = std::chrono::duration<double>(last - first).count();
  std::printf("== 3. speed\n");
  std::printf("   first-token latency %.1f ms (prompt of %zu tokens in, first token out)\n", first_ms, prompt.size());
  if (count > 1)
    std::printf("   decoding %.1f tokens/s (%d tokens after the first in %.3f s)\n", (count - 1) / rest_s, count - 1,
                rest_s);
#ifdef EXAMPLE_COUNTS_ALLOCATIONS
  const long allocations = allocations_after_startup.load();
  std::printf("   heap allocations after start-up: %ld\n", allocations);
  if (allocations != 0 && !opt.heap) return 1;
#else
  std::printf("   heap allocations after start-up: not counted in a sanitizer build\n");
#endif
  return 0;
}

// A prompt of one full prefill chunk and two decoding steps: every code
// path generation takes (a chunk of rows, then one row per step).
template <model_config C, class Generator>
void warm_up(Generator& gen) {
  static std::int32_t prompt[64] = {};  // token 0, 64 times; static: no heap, no big stack frame
  const std::span<const std::int32_t> one[1] = {std::span<const std::int32_t>(prompt)};
  gen.generate(one, {.max_new_tokens = 2});
}

// Step 5: start-up. The static model reads its weights and packs them (the
// reader allocates while it parses the file: that is start-up, done once),
// the static generator is constructed (nothing to allocate: its memory is
// inside it), one warm-up generation runs, and the budget is printed.
template <model_config C>
int run(const options& opt, const fs::path& weights) {
  using dev = device<C>;
  const auto t0 = clock_type::now();
  typename dev::model& model = the_model<C>();
  read_weights(weights, model);
  model.pack_weights();  // into the room inside the object
  const double load_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  typename dev::generator& gen = the_generator<C>();
  // The last step of start-up: one short warm-up generation. It starts
  // OpenMP's thread pool, and each thread's first matrix product allocates
  // that thread's GEMM packing buffer (kernels/gemm/blocking.hpp: about
  // 1 MB, once per thread, kept for the life of the thread). After it,
  // nothing allocates again: the same threads decode every later answer.
  warm_up<C>(gen);

  std::printf("== 1. memory budget (static objects, sizes fixed at compile time; no heap after start-up)\n");
  std::printf("   weights          %9.1f MB  (%zu parameters, fp32)\n", mb(dev::weight_bytes),
              std::as_const(model).parameters().size());  // const: a mutable access would mark the packed copy stale
  std::printf("   packed weights   %9.1f MB  (the GEMM-ready copy decoding reads)\n", mb(dev::packed_bytes));
  std::printf("   KV cache         %9.1f MB  (%d layers x K,V x %d positions x %d channels)\n", mb(dev::cache_bytes),
              C.layers, dev::max_length, C.d_model);
  std::printf("   decode workspace %9.1f MB  (%d-token prefill chunks, sampler buffers)\n", mb(dev::workspace_bytes),
              dev::prefill_chunk);
  std::printf("   model's own      %9.1f MB  (its full-sequence workspace for 1 token, bookkeeping)\n",
              mb(dev::model_rest));
  std::printf("   total            %9.1f MB  (sizeof model + sizeof generator, checked by static_assert)\n",
              mb(dev::bytes));
  std::printf("   loaded %s in %.2f s\n", weights.string().c_str(), load_s);
  return generate<C>(opt, gen);
}

// --heap: the same with the default storage (each arena allocated on the
// heap at start-up), for comparison.
template <model_config C>
int run_on_heap(const options& opt, const fs::path& weights) {
  using model_t = models::decoder<C, f32, inference::generation_policy>;
  auto model = std::make_unique<model_t>(1, 1, models::init_options{.zeros = true});
  read_weights(weights, *model);
  model->pack_weights();
  inference::generator<model_t> gen(std::as_const(*model), 1, device<C>::max_length, device<C>::prefill_chunk);
  warm_up<C>(gen);
  std::printf("== 1. memory on the heap: weights %.1f MB, packed %.1f MB, KV cache %.1f MB, workspace %.1f MB\n",
              mb(model->parameter_bytes()), mb(model->packed_weight_bytes()), mb(gen.cache_bytes()),
              mb(gen.workspace_bytes()));
  return generate<C>(opt, gen);
}

// Random weights, written as a checkpoint the way a workstation that
// trained the model would (a heap model: this is not the device side).
template <model_config C>
void write_random_weights(const fs::path& path) {
  using model_t = models::decoder<C, f32, inference::generation_policy>;
  auto m = std::make_unique<model_t>(1, 1, models::init_options{.seed = 5, .initializer_range = 0.1});
  io::save_checkpoint(path, *m);
  std::printf("   wrote random weights to %s (%.1f MB)\n", path.string().c_str(), mb(fs::file_size(path)));
}

template <model_config C>
int start(const options& opt, const fs::path& weights) {
  return opt.heap ? run_on_heap<C>(opt, weights) : run<C>(opt, weights);
}

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--smoke") opt.smoke = true;
    else if (a == "--sample") opt.sample = true;
    else if (a == "--heap") opt.heap = true;
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
      return start<smoke_config>(opt, w);
    }
    fs::path w = opt.weights;
    if (w.empty()) {
      w = "gpt2_small_random.safetensors";
      if (!fs::exists(w)) write_random_weights<gpt2_small>(w);
    }
    return start<gpt2_small>(opt, w);
  } catch (const autodidact::error& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
