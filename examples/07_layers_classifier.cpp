// Example 07: a Transformer text classifier built from layers in user code.
//
// No models::encoder<> here: the program declares its own model from the
// typed layers (include/autodidact/layers/typed/) — a token + position
// embedding, its LayerNorm, two BERT blocks, a mean over each sequence's
// tokens and a linear head — and writes forward and backward itself, in
// order and in reverse. All parameters live in one flat arena (and the
// gradients in a second one): each layer is bound to its slice, so one
// AdamW loop updates everything.
//
// The task: WordNet 3.0 glosses (definitions, from Debian's wordnet-base)
// labelled with their lexicographer class — 45 classes such as
// noun.animal, noun.artifact, verb.motion, adj.all. A gloss like "a
// domesticated carnivorous mammal ..." should come out noun.animal.
// tools/fetch_pretraining_corpus.sh writes glosses_train.tsv and
// glosses_test.tsv (pos_offset, lexname_number, lexname, gloss) into the
// corpus folder; the program
//   1. trains a WordPiece vocabulary on the training glosses;
//   2. tokenizes both splits (at most 48 tokens a gloss);
//   3. declares the classifier and binds its layers into one arena;
//   4. trains it with AdamW (warmup, linear decay, clipping), printing the
//      step, the running loss and the speed;
//   5. prints a few held-out glosses with their true and predicted class,
//      and the held-out accuracy next to the majority-class baseline:
//        classifier: test_accuracy=<a> majority_baseline=<b>
//
//   ./07_layers_classifier [--corpus DIR] [--steps N] [--batch B] [--lr PEAK] [--seed S]
//   ./07_layers_classifier --smoke    a few steps on a small generated set (CTest runs this)
//
// Exits with 1 when a loss is not finite (a failed run), 2 on bad usage or
// a missing corpus, 0 otherwise.

#include <autodidact/core/arena.hpp>
#include <autodidact/core/rng.hpp>
#include <autodidact/kernels/cross_entropy.hpp>
#include <autodidact/layers/typed/block.hpp>
#include <autodidact/layers/typed/embedding.hpp>
#include <autodidact/layers/typed/layernorm.hpp>
#include <autodidact/layers/typed/linear.hpp>
#include <autodidact/optim/adamw.hpp>
#include <autodidact/tokenizers/trainers.hpp>
#include <autodidact/tokenizers/wordpiece.hpp>
#include <autodidact/train/schedule.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace autodidact;
namespace fs = std::filesystem;
namespace tk = autodidact::tokenizers;

// ---------------------------------------------------------------------------
// The model's sizes are types: they size every layer, and a wrong
// combination (say 5 heads for 64 channels) does not compile.
constexpr int vocab = 4096;   // WordPiece vocabulary (trained below)
constexpr int max_len = 48;   // tokens per gloss (longer ones are cut)
constexpr int width = 64;     // C
constexpr int heads = 4;      // 16 channels a head
constexpr int inner = 256;    // feed-forward width
constexpr int classes = 45;   // WordNet's lexicographer files 00 .. 44

using embedding_t = layers::embedding<vocab, max_len, width>;      // token + position tables
using norm_t = layers::layernorm<width, f32, 1e-12>;                // BERT's embedding LayerNorm
using block_t = layers::block<width, heads, inner>;                 // BERT's block: post-LN, erf GELU
using head_t = layers::linear<width, classes>;                      // pooled [B, C] -> logits [B, 45]

namespace {

// 3. The classifier: the layers bound into one parameter arena and one
// gradient arena. Each layer's parameter_elements is a multiple of 64
// bytes, so consecutive slices stay aligned.
struct classifier {
  static constexpr std::size_t at_embedding = 0;
  static constexpr std::size_t at_norm = at_embedding + embedding_t::parameter_elements;
  static constexpr std::size_t at_block0 = at_norm + norm_t::parameter_elements;
  static constexpr std::size_t at_block1 = at_block0 + block_t::parameter_elements;
  static constexpr std::size_t at_head = at_block1 + block_t::parameter_elements;
  static constexpr std::size_t total = at_head + head_t::parameter_elements;

  arena<float> params{total, "classifier parameters"}, grads{total, "classifier gradients"};
  embedding_t embedding{slice(params, at_embedding, embedding_t::parameter_elements),
                        slice(grads, at_embedding, embedding_t::parameter_elements)};
  norm_t norm{slice(params, at_norm, norm_t::parameter_elements), slice(grads, at_norm, norm_t::parameter_elements)};
  block_t block0{slice(params, at_block0, block_t::parameter_elements),
                 slice(grads, at_block0, block_t::parameter_elements)};
  block_t block1{slice(params, at_block1, block_t::parameter_elements),
                 slice(grads, at_block1, block_t::parameter_elements)};
  head_t head{slice(params, at_head, head_t::parameter_elements), slice(grads, at_head, head_t::parameter_elements)};

  static std::span<float> slice(arena<float>& a, std::size_t at, std::size_t n) { return a.span().subspan(at, n); }

  // Bound layers keep what is in the arena: set each by its table's roles
  // (matrices and embeddings N(0, 0.02), gains 1, biases 0), a seed each.
  void initialize(std::uint64_t seed) {
    embedding.initialize({.seed = seed * 8 + 0});
    norm.initialize({.seed = seed * 8 + 1});
    block0.initialize({.seed = seed * 8 + 2});
    block1.initialize({.seed = seed * 8 + 3});
    head.initialize({.seed = seed * 8 + 4});
  }

  // The optimizer's groups, read off the layers' tables: matrices and
  // embeddings take weight decay, biases and LayerNorm parameters do not.
  struct group {
    std::size_t begin = 0, count = 0;
    bool decay = false;
  };
  std::vector<group> decay_groups() const {
    std::vector<group> groups;
    auto add = [&](std::size_t at, const auto& plan) {
      for (std::size_t i = 0; i < plan.specs.size(); ++i) {
        if (!plan.specs[i].present()) continue;
        const bool decay = models::decays(plan.specs[i].role);
        const std::size_t begin = at + plan.offsets[i];
        if (!groups.empty() && groups.back().decay == decay) continue;  // extends the open group
        if (!groups.empty()) groups.back().count = begin - groups.back().begin;
        groups.push_back({begin, 0, decay});
      }
    };
    add(at_embedding, embedding_t::plan);
    add(at_norm, norm_t::plan);
    add(at_block0, block_t::plan);
    add(at_block1, block_t::plan);
    add(at_head, head_t::plan);
    groups.back().count = total - groups.back().begin;
    return groups;
  }
};

// What one batch needs besides the layers' own workspaces: token ids and
// positions, each gloss's length, the activations between the layers and
// their gradients.
struct batch_state {
  int max_batch;
  std::vector<std::int32_t> ids, positions, lengths, labels;
  std::vector<float> emb, x0, pooled, logits, losses, dlogits, dpooled, d2, d1, d0, demb;
  norm_t::workspace norm_ws;
  block_t::workspace ws0, ws1;
  explicit batch_state(int b)
      : max_batch(b), ids(std::size_t(b) * max_len), positions(ids.size()), lengths(std::size_t(b)),
        labels(std::size_t(b)), emb(ids.size() * width), x0(emb.size()), pooled(std::size_t(b) * width),
        logits(std::size_t(b) * classes), losses(std::size_t(b)), dlogits(logits.size()), dpooled(pooled.size()),
        d2(emb.size()), d1(emb.size()), d0(emb.size()), demb(emb.size()), norm_ws(b * max_len), ws0(b, max_len),
        ws1(b, max_len) {}
};

struct example {
  std::vector<std::int32_t> tokens;  // at most max_len
  int label = 0;
};

// Forward through every layer; returns the mean cross-entropy of the
// batch (and leaves the logits in s.logits).
double forward(const classifier& m, batch_state& s, int batch) {
  const int n = batch * max_len;
  const layers::attention_shape shape{batch, max_len, s.lengths.data()};
  m.embedding.forward({s.ids.data(), s.positions.data(), nullptr, n}, s.emb.data());
  m.norm.forward(s.norm_ws, n, s.emb.data(), s.x0.data());
  const float* x1 = m.block0.forward(s.ws0, shape, s.x0.data());
  const float* x2 = m.block1.forward(s.ws1, shape, x1);
  // Mean over each gloss's own tokens (the padding is never read).
  for (int b = 0; b < batch; ++b) {
    float* p = s.pooled.data() + std::size_t(b) * width;
    std::fill(p, p + width, 0.0f);
    const int len = s.lengths[std::size_t(b)];
    for (int t = 0; t < len; ++t)
      for (int c = 0; c < width; ++c) p[c] += x2[(std::size_t(b) * max_len + t) * width + c];
    for (int c = 0; c < width; ++c) p[c] /= float(len);
  }
  m.head.forward(batch, s.pooled.data(), s.logits.data());
  kernels::cross_entropy_forward(batch, classes, s.logits.data(), classes, s.labels.data(), s.losses.data());
  double loss = 0;
  for (int b = 0; b < batch; ++b) loss += s.losses[std::size_t(b)];
  return loss / batch;
}

// Backward in reverse order; every layer accumulates into its slice of
// the gradient arena.
void backward(classifier& m, batch_state& s, int batch) {
  const int n = batch * max_len;
  const std::size_t nc = std::size_t(n) * width;
  const layers::attention_shape shape{batch, max_len, s.lengths.data()};
  kernels::cross_entropy_backward(batch, classes, s.logits.data(), classes, s.labels.data(), 1.0f / float(batch),
                                  s.dlogits.data(), classes);
  std::fill(s.dpooled.begin(), s.dpooled.end(), 0.0f);
  m.head.backward(batch, s.pooled.data(), s.dlogits.data(), s.dpooled.data());
  // The mean's gradient: each of a gloss's tokens gets 1/len of it.
  std::fill(s.d2.begin(), s.d2.begin() + std::ptrdiff_t(nc), 0.0f);
  for (int b = 0; b < batch; ++b) {
    const int len = s.lengths[std::size_t(b)];
    for (int t = 0; t < len; ++t)
      for (int c = 0; c < width; ++c)
        s.d2[(std::size_t(b) * max_len + t) * width + c] = s.dpooled[std::size_t(b) * width + c] / float(len);
  }
  std::fill(s.d1.begin(), s.d1.begin() + std::ptrdiff_t(nc), 0.0f);
  m.block1.backward(s.ws1, shape, s.ws0.output(), s.d2.data(), s.d1.data());
  std::fill(s.d0.begin(), s.d0.begin() + std::ptrdiff_t(nc), 0.0f);
  m.block0.backward(s.ws0, shape, s.x0.data(), s.d1.data(), s.d0.data());
  std::fill(s.demb.begin(), s.demb.begin() + std::ptrdiff_t(nc), 0.0f);
  m.norm.backward(s.norm_ws, n, s.emb.data(), s.d0.data(), s.demb.data());
  m.embedding.backward({s.ids.data(), s.positions.data(), nullptr, n}, s.demb.data());
}

// Fills the batch from examples[order[first ...]] (right padding with pad).
int fill_batch(batch_state& s, const std::vector<example>& data, const std::vector<std::size_t>& order,
               std::size_t first, std::int32_t pad) {
  const int batch = static_cast<int>(std::min<std::size_t>(std::size_t(s.max_batch), order.size() - first));
  for (int b = 0; b < batch; ++b) {
    const example& e = data[order[first + std::size_t(b)]];
    const int len = std::max(1, static_cast<int>(e.tokens.size()));
    s.lengths[std::size_t(b)] = len;
    s.labels[std::size_t(b)] = e.label;
    for (int t = 0; t < max_len; ++t) {
      const std::size_t k = std::size_t(b) * max_len + std::size_t(t);
      s.ids[k] = t < static_cast<int>(e.tokens.size()) ? e.tokens[std::size_t(t)] : pad;
      s.positions[k] = t;
    }
  }
  return batch;
}

// A TSV split: pos_offset, lexname_number, lexname, gloss (header first).
struct gloss {
  int label = 0;
  std::string lexname, text;
};
std::vector<gloss> read_glosses(const fs::path& file) {
  std::ifstream in(file);
  require<io_error>(static_cast<bool>(in), file.string(), ": cannot open");
  std::vector<gloss> out;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    require<io_error>(cols.size() == 4, file.string(), ": a line with ", cols.size(), " columns, expected 4");
    const int label = std::atoi(cols[1].c_str());
    require<io_error>(label >= 0 && label < classes, file.string(), ": lexname_number ", label, " is not in [0, ",
                      classes, ")");
    out.push_back({label, cols[2], cols[3]});
  }
  return out;
}

// --smoke: a small generated set in the same format, three classes whose
// glosses share their words (no download).
void write_smoke_glosses(const fs::path& dir) {
  const char* words[3][8] = {{"animal", "mammal", "bird", "wild", "feathers", "fur", "species", "hunts"},
                             {"tool", "device", "used", "metal", "handle", "machine", "made", "cutting"},
                             {"move", "walk", "travel", "quickly", "go", "across", "motion", "run"}};
  const int labels[3] = {5, 6, 38};
  const char* names[3] = {"noun.animal", "noun.artifact", "verb.motion"};
  fs::create_directories(dir);
  for (const char* split : {"glosses_train.tsv", "glosses_test.tsv"}) {
    std::ofstream out(dir / split);
    out << "pos_offset\tlexname_number\tlexname\tgloss\n";
    const bool train = std::string(split) == "glosses_train.tsv";
    std::uint32_t x = train ? 7u : 99u;
    for (int i = 0; i < (train ? 300 : 60); ++i) {
      const int k = i % 3;
      out << "n" << 10000000 + i << '\t' << labels[k] << '\t' << names[k] << '\t';
      for (int w = 0; w < 6; ++w) {
        x = x * 1103515245u + 12345u;
        out << (w ? " " : "") << words[k][(x >> 16) % 8];
      }
      out << '\n';
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* cache = std::getenv("AUTODIDACT_CACHE");
  const char* home = std::getenv("HOME");
  fs::path corpus = fs::path(cache ? cache : (std::string(home ? home : ".") + "/.cache/autodidact")) /
                    "corpus/pretraining";
  bool smoke = false;
  long steps = 600, batch_size = 32;
  double peak_lr = 2e-3;
  long seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&]() -> double {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "07_layers_classifier: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      const std::string v = argv[++i];
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(x) || x <= 0) {
        std::fprintf(stderr, "07_layers_classifier: %s needs a positive number, got '%s'\n", a.c_str(), v.c_str());
        std::exit(2);
      }
      return x;
    };
    if (a == "--smoke") smoke = true;
    else if (a == "--corpus" && i + 1 < argc) corpus = argv[++i];
    else if (a == "--steps") steps = static_cast<long>(number());
    else if (a == "--batch") batch_size = static_cast<long>(number());
    else if (a == "--lr") peak_lr = number();
    else if (a == "--seed") seed = static_cast<long>(number());
    else {
      std::fprintf(stderr, "07_layers_classifier: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  try {
    if (smoke) {
      corpus = "layers_classifier_smoke";
      write_smoke_glosses(corpus);
      steps = 12;
      batch_size = 8;
    }
    const fs::path train_tsv = corpus / "glosses_train.tsv", test_tsv = corpus / "glosses_test.tsv";
    if (!fs::exists(train_tsv) || !fs::exists(test_tsv)) {
      std::fprintf(stderr,
                   "07_layers_classifier: no glosses in %s; run 'bash tools/fetch_pretraining_corpus.sh' first "
                   "(or pass --corpus DIR)\n",
                   corpus.c_str());
      return 2;
    }
    const auto train_glosses = read_glosses(train_tsv), test_glosses = read_glosses(test_tsv);

    // 1. A WordPiece vocabulary trained on the training glosses only.
    auto t0 = std::chrono::steady_clock::now();
    tk::bpe_trainer_options vocab_options;
    vocab_options.vocab_size = vocab;
    vocab_options.special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    tk::wordpiece_trainer trainer(vocab_options);
    for (const gloss& g : train_glosses) trainer.feed(g.text);
    const tk::wordpiece_tokenizer tok = trainer.train_tokenizer();
    const std::int32_t pad = tok.vocab().id("[PAD]");
    std::printf("== 1. WordPiece vocabulary: %zu tokens from %zu training glosses (%.1f s)\n", tok.vocab().size(),
                train_glosses.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

    // 2. Token ids, cut at max_len.
    auto tokenize = [&](const std::vector<gloss>& in) {
      std::vector<example> out;
      std::vector<tk::token> tokens;
      for (const gloss& g : in) {
        tokens.clear();
        tok.encode_tokens(g.text, tokens);
        example e;
        e.label = g.label;
        for (std::size_t i = 0; i < tokens.size() && i < std::size_t(max_len); ++i) e.tokens.push_back(tokens[i].id);
        if (e.tokens.empty()) e.tokens.push_back(pad);  // (an empty gloss: one padding token)
        out.push_back(std::move(e));
      }
      return out;
    };
    const auto train_set = tokenize(train_glosses), test_set = tokenize(test_glosses);
    std::map<int, std::string> names;
    std::vector<std::size_t> train_counts(classes, 0), test_counts(classes, 0);
    for (const gloss& g : train_glosses) names[g.label] = g.lexname, ++train_counts[std::size_t(g.label)];
    for (const gloss& g : test_glosses) ++test_counts[std::size_t(g.label)];
    const int majority = static_cast<int>(std::max_element(train_counts.begin(), train_counts.end()) - train_counts.begin());
    const double baseline = double(test_counts[std::size_t(majority)]) / double(test_set.size());
    std::printf("== 2. %zu training and %zu test glosses, %zu classes; the most frequent is %s\n", train_set.size(),
                test_set.size(), names.size(), names[majority].c_str());

    // 3. The classifier, one arena for all its parameters.
    auto model = std::make_unique<classifier>();
    model->initialize(static_cast<std::uint64_t>(seed));
    const auto groups = model->decay_groups();
    std::printf("== 3. embedding [%d, %d] + LayerNorm + 2 blocks (%d heads, %d inner) + mean + linear [%d, %d]: "
                "%zu parameters in one arena\n",
                vocab, width, heads, inner, classes, width,
                embedding_t::plan.real_parameters + norm_t::plan.real_parameters +
                    2 * block_t::plan.real_parameters + head_t::plan.real_parameters);

    // 4. Training: AdamW over the one arena (decay groups from the tables),
    // warmup over the first tenth, linear decay, gradients clipped at norm 1.
    optim::adamw<float> opt(classifier::total, {.lr = peak_lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                                 .weight_decay = 0.01});
    const train::lr_schedule schedule{.peak = peak_lr, .warmup_steps = std::max(1L, steps / 10), .total_steps = steps};
    batch_state state(static_cast<int>(batch_size));
    std::vector<std::size_t> order(train_set.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    const philox_rng shuffle_rng(static_cast<std::uint64_t>(seed), rng_stream::shuffle);
    std::uint32_t epoch = 0;
    std::size_t next = order.size();  // start with a shuffle
    std::printf("== 4. training for %ld steps, batches of %ld glosses\n", steps, batch_size);
    double running = 0;
    long seen = 0;
    const auto start = std::chrono::steady_clock::now();
    for (long step = 0; step < steps; ++step) {
      if (next + std::size_t(batch_size) > order.size()) {  // a new epoch: Fisher-Yates with Philox draws
        for (std::size_t i = order.size(); i > 1; --i) {
          const auto j = static_cast<std::size_t>(shuffle_rng.uniform_double(epoch, static_cast<std::uint32_t>(i)) * double(i));
          std::swap(order[i - 1], order[std::min(j, i - 1)]);
        }
        ++epoch;
        next = 0;
      }
      const int batch = fill_batch(state, train_set, order, next, pad);
      next += std::size_t(batch);
      model->grads.zero();
      const double loss = forward(*model, state, batch);
      if (!std::isfinite(loss)) {
        std::printf("step %ld: the loss is %f: the run failed\n", step + 1, loss);
        return 1;
      }
      backward(*model, state, batch);
      opt.set_lr(schedule.at(step));
      opt.step(model->params.span(), model->grads.span(), std::span<const classifier::group>(groups), 1.0);
      running = seen == 0 ? loss : 0.95 * running + 0.05 * loss;
      seen += batch;
      if ((step + 1) % 50 == 0 || step + 1 == steps || smoke) {
        const auto now = std::chrono::steady_clock::now();
        const double total_s = std::chrono::duration<double>(now - start).count();
        std::printf("   step %4ld  loss %.4f  lr %.2e  %.0f glosses/s\n", step + 1, running, schedule.at(step),
                    double(seen) / total_s);
      }
    }

    // 5. Held-out accuracy: the arg-max class of every test gloss.
    std::vector<std::size_t> test_order(test_set.size());
    for (std::size_t i = 0; i < test_order.size(); ++i) test_order[i] = i;
    std::size_t correct = 0;
    double test_loss = 0;
    for (std::size_t first = 0; first < test_set.size();) {
      const int batch = fill_batch(state, test_set, test_order, first, pad);
      test_loss += forward(*model, state, batch) * batch;
      for (int b = 0; b < batch; ++b) {
        const float* row = state.logits.data() + std::size_t(b) * classes;
        correct += (std::max_element(row, row + classes) - row) == state.labels[std::size_t(b)];
      }
      first += std::size_t(batch);
    }
    // A few held-out glosses with what the classifier says.
    std::vector<std::size_t> shown;
    for (std::size_t i : {std::size_t(0), test_set.size() / 3, test_set.size() / 2, 4 * test_set.size() / 5})
      if (i < test_set.size()) shown.push_back(i);
    const int n_shown = fill_batch(state, test_set, shown, 0, pad);
    forward(*model, state, n_shown);
    for (int b = 0; b < n_shown; ++b) {
      const float* row = state.logits.data() + std::size_t(b) * classes;
      const int guess = static_cast<int>(std::max_element(row, row + classes) - row);
      const gloss& g = test_glosses[shown[std::size_t(b)]];
      std::printf("   %-18s -> %-18s %.56s%s\n", g.lexname.c_str(),
                  names.count(guess) ? names[guess].c_str() : "?", g.text.c_str(), g.text.size() > 56 ? "..." : "");
    }
    const double accuracy = double(correct) / double(test_set.size());
    std::printf("== 5. held-out: %zu of %zu glosses right, loss %.4f\n", correct, test_set.size(),
                test_loss / double(test_set.size()));
    std::printf("classifier: test_accuracy=%.4f majority_baseline=%.4f\n", accuracy, baseline);
    if (!std::isfinite(test_loss)) {
      std::printf("the held-out loss is not finite: the run failed\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "07_layers_classifier: %s\n", e.what());
    return 1;
  }
}
