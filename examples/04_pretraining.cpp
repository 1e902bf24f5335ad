// Example 04: pretraining a small BERT from scratch with masked language
// modelling, on real English, in a few minutes on a laptop-class CPU.
//
// The corpus is Jane Austen's six novels and the WordNet 3.0 glosses
// (tools/fetch_pretraining_corpus.sh makes it from Debian packages:
// train.txt and heldout.txt, docs/pretraining-corpus.md). The program
//   1. trains a WordPiece vocabulary of 8,192 on the training text;
//   2. streams the text through the data pipeline (windows of 32 tokens
//      packed across documents, a shuffle buffer, batches: data/);
//   3. pretrains a small BERT (demo_bert below: 2 layers, 64 wide — on 2
//      cores for 10 minutes, docs/pretraining.md says why) with the MLM
//      objective (objectives/mlm.hpp, 40 % of the tokens selected; the head
//      trained with a sampled softmax over the batch's labels and 512 drawn
//      tokens, heads/sampled_softmax.hpp) under the trainer (train/): the
//      batch of 32 as two micro-batches of 16 run at once, one per thread
//      (parallel_micro_batches); AdamW, warmup, the peak held, then linear decay, clipping,
//      checkpoints, for a fixed wall-time budget (the decay re-planned when
//      it starts so that it ends with the budget on a machine that slowed
//      down or sped up: trainer_options::fit_decay_to_budget);
//   4. measures the held-out MLM loss — nats per position replaced by
//      [MASK] (kept or randomised positions are not scored) — against a
//      unigram baseline that predicts every such token by its add-one
//      smoothed frequency in the training text; writes the CSV log, a PNG
//      loss curve (gnuplot), the checkpoint and its Hugging Face export;
//   5. prints  pretraining: heldout_mlm_loss=<x> unigram_loss=<y>
//
//   ./04_pretraining [--corpus DIR] [--out DIR] [--minutes M]
//                    [--batch B] [--seq T] [--lr PEAK] [--select P] [--stable F]   the recipe's knobs
//                    [--negatives K | --full-softmax]   train the MLM head with a sampled
//                                  softmax over the batch's labels and K drawn tokens, or
//                                  over the whole vocabulary (evaluation always is)
//                    [--steps N]   exactly N optimizer steps, the schedule over them, no
//                                  wall-time budget (reproducible recipe probes)
//   ./04_pretraining --clm       a small GPT with causal LM instead, then seeded samples
//   ./04_pretraining --smoke     a few steps on a generated text (CTest runs this)
//
// It says whether the held-out loss is 1 nat below the unigram baseline
// (the goal of a full 10-minute run), and exits with status 1 when a loss
// is not finite or the model did not get below the baseline at all.

#include <autodidact/data/pipeline.hpp>
#include <autodidact/io/hf_export.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/objectives/clm.hpp>
#include <autodidact/objectives/mlm.hpp>
#include <autodidact/tokenizers/trainers.hpp>
#include <autodidact/tokenizers/wordpiece.hpp>
#include <autodidact/train/trainer.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace autodidact;
namespace fs = std::filesystem;
namespace tk = autodidact::tokenizers;

// The models: sizes chosen from the learning curve on 2 cores (docs/pretraining.md).
constexpr model_config demo_bert{.vocab = 8192,
                                 .max_positions = 128,
                                 .d_model = 64,
                                 .heads = 2,
                                 .d_ff = 256,
                                 .layers = 2,
                                 .type_vocab = 2,
                                 .layer_norm_eps = 1e-12,
                                 .gelu = gelu_kind::erf,
                                 .norm = norm_placement::post,
                                 .tied_lm_head = true,
                                 .pooler = false};
constexpr model_config demo_gpt{.vocab = 8192,
                                .max_positions = 128,
                                .d_model = 256,
                                .heads = 4,
                                .d_ff = 1024,
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
using bert_t = models::encoder<demo_bert, f32>;
using gpt_t = models::decoder<demo_gpt, f32>;

namespace {

struct options {
  fs::path corpus, out = "pretraining_run";
  double minutes = 10.0;
  bool smoke = false, clm = false;
  // Windows of 32: a 10-minute BERT on windows of 128 never learns to use
  // word order (it predicts from the bag of words around a [MASK]); on
  // windows of 32 it does within a few thousand steps (docs/pretraining.md).
  std::size_t seq = 32, batch = 32;
  double lr = 2e-3;
  double stable = 0.8;  // the share of the steps after warmup at the peak learning rate, before the decay
  std::int64_t steps = 0;  // --steps: a fixed step count instead of the wall-time budget
  double select = 0.4;  // MLM: the share of tokens selected (80 % of them become [MASK])
  int negatives = 512;  // MLM: sampled softmax with this many drawn negatives; 0: the full softmax
  int replicas = 2;     // the batch as this many micro-batches run at once, one per thread
  std::uint64_t seed = 1;
};

// --smoke: a small generated text (no download), in the corpus format.
void write_smoke_corpus(const fs::path& dir) {
  const char* words[] = {"the", "lady", "said", "that", "she", "would", "walk", "to", "the", "house", "of", "her",
                         "sister", "and", "a", "letter", "came", "from", "town", "with", "news", "morning", "was",
                         "fine", "he", "thought", "it", "very", "good", "indeed"};
  fs::create_directories(dir);
  for (const char* name : {"train.txt", "heldout.txt"}) {
    std::ofstream out(dir / name);
    std::uint32_t x = name[0] == 't' ? 7u : 99u;
    for (int line = 0; line < (name[0] == 't' ? 600 : 120); ++line) {
      x = x * 1103515245u + 12345u;
      const int n = 4 + static_cast<int>((x >> 16) % 9);
      for (int i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        out << (i ? " " : "") << words[(x >> 16) % 30];
      }
      out << ".\n";
      if (line % 6 == 5) out << '\n';
    }
  }
}

// Held-out batches, all of them (no shuffle).
std::vector<data::batch> heldout_batches(const tk::wordpiece_tokenizer& tok, const fs::path& file,
                                         const data::window_options& w, std::size_t batch, std::size_t limit) {
  data::pipeline_options o;
  o.files = {file.string()};
  o.windows = w;
  o.shuffle_buffer = 0;
  o.batch_size = batch;
  data::pipeline<tk::wordpiece_model> p(tok, o, w.length);
  std::vector<data::batch> out;
  data::batch b;
  while (out.size() < limit && p.next(b)) out.push_back(b);
  return out;
}

// Each token's count in the training text.
std::vector<double> unigram_counts(const tk::wordpiece_tokenizer& tok, const fs::path& train, int vocab) {
  std::vector<double> counts(static_cast<std::size_t>(vocab), 0.0);
  std::ifstream in(train);
  std::string line;
  std::vector<tk::token> tokens;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    tokens.clear();
    tok.encode_tokens(line, tokens);
    for (const auto& t : tokens) counts[static_cast<std::size_t>(t.id)] += 1;
  }
  return counts;
}

// -log p(token) under the add-one smoothed unigram distribution of those counts.
std::vector<double> unigram_nats(const std::vector<double>& counts) {
  double total = 0;
  for (double c : counts) total += c;
  std::vector<double> nats(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i)
    nats[i] = -std::log((counts[i] + 1.0) / (total + static_cast<double>(counts.size())));
  return nats;
}

// The held-out MLM evaluation: every selected position becomes [MASK]
// (mask = 1: no random or kept positions to leave unscored), fixed seed.
struct mlm_eval {
  const std::vector<data::batch>* batches;
  objectives::masking_vocabulary vocab;
  const std::vector<double>* unigram;
  std::size_t batch, seq;
  std::size_t limit;  // batches used (periodic evaluations use a subset, spread over the whole text)

  std::map<std::string, double> operator()(const bert_t& model, bert_t::workspace_type& trainer_ws) const {
    // The trainer's workspace, unless its micro-batches are smaller than these batches.
    std::unique_ptr<bert_t::workspace_type> own;
    if (static_cast<std::size_t>(trainer_ws.max_batch()) < batch)
      own = std::make_unique<bert_t::workspace_type>(static_cast<int>(batch), static_cast<int>(seq));
    bert_t::workspace_type& ws = own ? *own : trainer_ws;
    objectives::masked_lm<bert_t> mlm({.select = 0.15, .mask = 1.0, .random = 0.0, .seed = 20241},
                                      vocab, static_cast<int>(batch), static_cast<int>(seq));
    double loss = 0, base = 0, count = 0;
    // Every stride-th batch: both parts of the held-out text (the novels'
    // tails come first, then the glosses) are in a subset.
    const std::size_t stride = std::max<std::size_t>(1, batches->size() / std::max<std::size_t>(1, limit));
    for (std::size_t i = 0; i < batches->size(); i += stride) {
      const auto tb = objectives::token_batch_of((*batches)[i]);
      const double l = mlm.loss(model, ws, tb, 0);
      loss += l * mlm.selected();
      count += mlm.selected();
      for (std::int32_t label : mlm.labels())
        if (label != objectives::ignore_label) base += (*unigram)[static_cast<std::size_t>(label)];
    }
    return {{"heldout_mlm_loss", count > 0 ? loss / count : 0.0}, {"unigram_loss", count > 0 ? base / count : 0.0},
            {"heldout_masked", count}};
  }
};

// A loss curve as a PNG, when gnuplot is installed.
void plot(const fs::path& csv, const fs::path& png, const char* title, bool has_eval) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("(gnuplot not found: no %s; the CSV is %s)\n", png.c_str(), csv.c_str());
    return;
  }
  const fs::path script = png.parent_path() / "plot.gp";
  std::ofstream(script) << "set terminal pngcairo size 900,540\nset output '" << png.string() << "'\n"
                        << "set datafile separator ','\nset key autotitle columnhead\nset title '" << title << "'\n"
                        << "set xlabel 'step'\nset ylabel 'nats'\nset grid\n"
                        << "plot '" << csv.string() << "' using 1:5 with lines lw 2 title 'train loss (smoothed)'"
                        << (has_eval ? ", '' using 1:7 with linespoints lw 2 title 'held-out MLM loss', "
                                       "'' using 1:8 with lines dt 2 title 'unigram baseline'"
                                     : "")
                        << '\n';
  if (std::system(("gnuplot '" + script.string() + "' 2>/dev/null").c_str()) == 0)
    std::printf("loss curve: %s\n", png.c_str());
}

// The median time of a training step: the trainer's own steps (the
// micro-batches, the optimizer) on a probe pipeline, timed one by one for
// at least `seconds` (and at least 5) after 3 warm-up steps. A median, not
// a mean of two: a 10-minute run once measured 121 ms for steps that then
// took 33 ms (the first steps after start-up were slow), and ran 2.4 minutes.
template <class Model, class Objective>
double time_steps(Model& model, const Objective& objective, data::pipeline<tk::wordpiece_model>& pipe,
                  train::trainer_options to, double seconds) {
  using clock = std::chrono::steady_clock;
  to.checkpoint_dir.clear();
  to.csv_log.clear();
  to.eval_every = 0;
  to.max_seconds = 0.0;
  to.fit_decay_to_budget = false;
  to.progress = false;
  std::vector<double> times;
  // 5 steps timed, then (if they took less than `seconds`) as many as fill it.
  for (std::int64_t timed = 5;;) {
    to.steps = 3 + timed;
    to.schedule.total_steps = to.steps;
    to.schedule.warmup_steps = 0;
    Objective copy = objective;
    train::trainer<Model, Objective, tk::wordpiece_model> t(model, copy, pipe, to);
    times.clear();
    auto last = clock::now();
    t.on_step = [&](std::int64_t step, double, double) {
      const auto now = clock::now();
      if (step > 3) times.push_back(std::chrono::duration<double>(now - last).count());
      last = now;
    };
    t.run();
    double sum = 0;
    for (double x : times) sum += x;
    if (sum >= seconds || timed > 5) break;
    timed = std::max<std::int64_t>(5, static_cast<std::int64_t>(seconds / (sum / 5.0)) + 1);
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

// Turns the wall-time budget into a step count (or takes --steps): times
// steps on a probe pipeline (time_steps), sets the steps and the schedule (warmup min(200, steps / 10),
// decay to the end), and re-initialises the model the probe trained.
template <class Model, class Objective>
void plan_steps(Model& model, const tk::wordpiece_tokenizer& tok, const data::pipeline_options& po,
                const options& opt, double fraction, train::trainer_options& to, const models::init_options& init,
                const Objective& objective) {
  data::pipeline<tk::wordpiece_model> probe(tok, po, opt.seq);
  // Timing costs about 1 % of the budget (at most 2 s; 0.2 s for a smoke run).
  const double step_s = time_steps(model, objective, probe, to, std::clamp(opt.minutes * 60.0 / 100.0, 0.2, 2.0));
  to.steps = opt.steps > 0
                 ? opt.steps
                 : std::max<std::int64_t>(4, static_cast<std::int64_t>(fraction * opt.minutes * 60.0 / step_s));
  to.schedule.total_steps = to.steps;
  to.schedule.warmup_steps = std::min<std::int64_t>(200, to.steps / 10);
  model.initialize(init);
  if (opt.steps > 0)
    std::printf("   %.0f ms a step: %lld steps (--steps; about %.1f minutes)\n", 1e3 * step_s,
                static_cast<long long>(to.steps), static_cast<double>(to.steps) * step_s / 60.0);
  else
    std::printf("   %.0f ms a step: %lld steps in %.1f minutes\n", 1e3 * step_s, static_cast<long long>(to.steps),
                opt.minutes);
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  const char* cache = std::getenv("AUTODIDACT_CACHE");
  const char* home = std::getenv("HOME");
  opt.corpus = fs::path(cache ? cache : (std::string(home ? home : ".") + "/.cache/autodidact")) / "corpus/pretraining";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "04_pretraining: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    // A number, all of the argument (std::stod would take "1x" as 1).
    auto number = [&] {
      const std::string v = value();
      std::size_t used = 0;
      double x = 0;
      try {
        x = std::stod(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != v.size() || !std::isfinite(x) || x <= 0) {
        std::fprintf(stderr, "04_pretraining: %s needs a positive number, got '%s'\n", a.c_str(), v.c_str());
        std::exit(2);
      }
      return x;
    };
    if (a == "--smoke") opt.smoke = true;
    else if (a == "--clm") opt.clm = true;
    else if (a == "--corpus") opt.corpus = value();
    else if (a == "--out") opt.out = value();
    else if (a == "--minutes") opt.minutes = number();
    else if (a == "--batch") opt.batch = static_cast<std::size_t>(number());
    else if (a == "--seq") opt.seq = static_cast<std::size_t>(number());
    else if (a == "--lr") opt.lr = number();
    else if (a == "--stable") opt.stable = std::stod(value());
    else if (a == "--select") opt.select = number();
    else if (a == "--steps") opt.steps = static_cast<std::int64_t>(number());
    else if (a == "--negatives") opt.negatives = static_cast<int>(number());
    else if (a == "--full-softmax") opt.negatives = 0;
    else if (a == "--replicas") opt.replicas = static_cast<int>(number());
    else {
      std::fprintf(stderr, "04_pretraining: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  try {
    if (opt.smoke) {
      opt.corpus = opt.out / "smoke_corpus";
      write_smoke_corpus(opt.corpus);
      opt.minutes = 0.15;
      opt.batch = 4;
      opt.seq = 32;
    }
    if (opt.batch % static_cast<std::size_t>(opt.replicas) != 0) {
      std::fprintf(stderr, "04_pretraining: --replicas %d must divide the batch of %zu\n", opt.replicas, opt.batch);
      return 2;
    }
    const fs::path train_txt = opt.corpus / "train.txt", heldout_txt = opt.corpus / "heldout.txt";
    if (!fs::exists(train_txt) || !fs::exists(heldout_txt)) {
      std::fprintf(stderr, "04_pretraining: no corpus in %s; run 'bash tools/fetch_pretraining_corpus.sh' first\n",
                   opt.corpus.c_str());
      return 2;
    }
    fs::create_directories(opt.out);

    // 1. The vocabulary.
    std::printf("== 1. a WordPiece vocabulary of %d, trained on %s\n", demo_bert.vocab, train_txt.c_str());
    auto t0 = std::chrono::steady_clock::now();
    tk::bpe_trainer_options vocab_options;
    vocab_options.vocab_size = static_cast<std::size_t>(demo_bert.vocab);
    vocab_options.special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    tk::wordpiece_trainer trainer(vocab_options);
    trainer.feed_file(train_txt.string());
    const tk::wordpiece_tokenizer tok = trainer.train_tokenizer();
    tk::save_vocab_txt(tok.vocab(), (opt.out / "vocab.txt").string());
    std::printf("   %zu tokens in %.1f s -> %s\n", tok.vocab().size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                (opt.out / "vocab.txt").c_str());
    const std::int32_t pad = tok.vocab().id("[PAD]"), unk = tok.vocab().id("[UNK]"), cls = tok.vocab().id("[CLS]"),
                       sep = tok.vocab().id("[SEP]"), mask = tok.vocab().id("[MASK]");
    const std::int32_t specials[] = {pad, unk, cls, sep, mask};
    const auto masking_vocab = objectives::masking_vocabulary::from(static_cast<std::int32_t>(tok.vocab().size()),
                                                                    specials, mask);

    // 2. The pipeline.
    data::pipeline_options po;
    po.files = {train_txt.string()};
    po.windows = data::bert_window_options(tok, opt.seq);
    if (opt.clm) po.windows.first_token.reset();  // GPT: no [CLS]; [SEP] ends each document
    po.shuffle_buffer = opt.smoke ? 64 : 8192;  // the glosses come grouped by class: shuffle widely
    po.seed = opt.seed;
    po.batch_size = opt.batch / static_cast<std::size_t>(opt.replicas);
    data::pipeline<tk::wordpiece_model> pipe(tok, po, opt.seq);
    std::printf("== 2. windows of %zu tokens, batches of %zu, shuffle buffer %zu\n", opt.seq, opt.batch,
                po.shuffle_buffer);
    // The training's share of the wall time (the rest: the vocabulary, the
    // evaluations, the export); 0: no budget (--steps).
    const double budget = opt.steps > 0 ? 0.0 : 0.9 * opt.minutes * 60.0;
    train::trainer_options to{.steps = 1,
                              .accumulation = opt.replicas,
                              .parallel_micro_batches = opt.replicas > 1,
                              .schedule = {.peak = opt.lr, .decay = train::decay_kind::linear, .stable_fraction = opt.stable},
                              .adamw = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-6, .weight_decay = 0.01},
                              .max_grad_norm = 1.0,
                              .seed = opt.seed,
                              .dropout = 0.0f,
                              .checkpoint_dir = opt.out / "checkpoints",
                              .keep_last = 2,
                              .csv_log = opt.out / "log.csv",
                              .max_seconds = budget,
                              .fit_decay_to_budget = true,
                              .progress = true};
    fs::remove(to.csv_log);

    if (opt.clm) {
      // --clm: a small GPT, causal LM, then seeded samples.
      auto model = std::make_unique<gpt_t>(1, 1, models::init_options{.seed = opt.seed});
      objectives::causal_lm<gpt_t> clm(static_cast<int>(opt.batch), static_cast<int>(opt.seq));
      plan_steps(*model, tok, po, opt, 0.9, to, {.seed = opt.seed}, clm);
      fs::remove_all(to.checkpoint_dir);
      std::printf("== 3. pretraining a %d-layer GPT (%d wide) with causal LM\n", demo_gpt.layers, demo_gpt.d_model);
      train::trainer<gpt_t, objectives::causal_lm<gpt_t>, tk::wordpiece_model> t(*model, clm, pipe, to);
      const auto report = t.run();
      plot(to.csv_log, opt.out / "loss.png", "causal LM pretraining", false);
      std::printf("== 4. seeded samples (temperature 0.8, top-k 40)\n");
      const philox_rng rng(opt.seed, rng_stream::sampling);
      gpt_t::workspace_type sampling(1, static_cast<int>(opt.seq));  // one sequence, up to T tokens
      for (const char* prompt : {"it is a truth universally acknowledged", "a small", "she was"}) {
        std::vector<tk::token> tokens;
        tok.encode_tokens(prompt, tokens);
        std::vector<std::int32_t> ids;
        for (const auto& x : tokens) ids.push_back(x.id);
        for (int k = 0; k < (opt.smoke ? 5 : 24) && ids.size() < opt.seq; ++k) {
          model->forward(sampling, {ids, {}, {}, 1, static_cast<int>(ids.size())});
          const auto logits = model->logits(sampling);
          const float* last = logits.data() + (ids.size() - 1) * demo_gpt.vocab;
          std::vector<std::pair<float, int>> top;
          for (int v = 0; v < static_cast<int>(tok.vocab().size()); ++v)
            if (v != pad && v != unk && v != cls && v != mask) top.push_back({last[v] / 0.8f, v});
          std::partial_sort(top.begin(), top.begin() + 40, top.end(), std::greater<>());
          top.resize(40);
          double z = 0;
          for (auto& [l, v] : top) z += std::exp(l - top[0].first);
          double u = rng.uniform_double(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(ids.size())) * z;
          int next = top.back().second;
          for (auto& [l, v] : top) {
            u -= std::exp(l - top[0].first);
            if (u <= 0) {
              next = v;
              break;
            }
          }
          if (next == sep) break;
          ids.push_back(next);
        }
        std::printf("   %s\n", tok.decode(ids).c_str());
      }
      std::printf("clm: steps=%lld train_loss=%.4f\n", static_cast<long long>(report.steps), report.last_loss);
      return std::isfinite(report.last_loss) ? 0 : 1;
    }

    // 3. The model and the objective.
    // Positions start as sinusoids (init_options::sinusoidal_positions): a
    // short run learns to use neighbouring tokens sooner. The MLM head's
    // output bias starts as the log unigram frequencies of the training text
    // (init_options::output_log_prior): the head predicts the baseline from
    // the first step instead of learning it.
    const auto counts = unigram_counts(tok, train_txt, demo_bert.vocab);
    const auto unigram = unigram_nats(counts);
    std::vector<double> log_prior(unigram.size());
    for (std::size_t i = 0; i < unigram.size(); ++i) log_prior[i] = -unigram[i];
    const models::init_options init{.seed = opt.seed, .sinusoidal_positions = true, .output_log_prior = log_prior};
    auto model = std::make_unique<bert_t>(1, 1, init);
    objectives::masked_lm<bert_t> mlm({.select = opt.select, .mask = 0.8, .random = 0.1, .seed = opt.seed}, masking_vocab,
                                      static_cast<int>(opt.batch), static_cast<int>(opt.seq));
    if (opt.negatives > 0) mlm.use_sampled_softmax({.negatives = opt.negatives, .seed = opt.seed}, counts);
    plan_steps(*model, tok, po, opt, 0.85, to, init, mlm);
    to.eval_every = std::max<std::int64_t>(1, to.steps / 10);
    fs::remove_all(to.checkpoint_dir);  // a fresh run (the trainer would resume from it)

    const auto heldout = heldout_batches(tok, heldout_txt, po.windows, opt.batch, opt.smoke ? 8 : 1u << 30);
    std::printf("   held-out text: %zu batches\n", heldout.size());
    const mlm_eval periodic{&heldout, masking_vocab, &unigram, opt.batch, opt.seq, 24};
    std::printf("== 3. pretraining a %d-layer BERT (%d wide, %.1f M parameters) with MLM\n", demo_bert.layers,
                demo_bert.d_model, static_cast<double>(bert_t::layout.real_parameters) / 1e6);
    train::trainer<bert_t, objectives::masked_lm<bert_t>, tk::wordpiece_model> t(*model, mlm, pipe, to, periodic);
    const auto report = t.run();
    std::printf("   %lld steps, %.1f M tokens, %.0f s (%.0f tokens/s)\n", static_cast<long long>(report.steps),
                static_cast<double>(report.tokens) / 1e6, report.seconds,
                static_cast<double>(report.tokens) / report.seconds);
    if (const auto* s = mlm.sampler())
      std::printf("   sampled softmax: the last micro-batch scored %d of the %d tokens for its %d predictions\n",
                  s->size(), demo_bert.vocab, s->rows());

    // 4. The held-out evaluation on all of the held-out text, the plots, the export.
    std::printf("== 4. held-out evaluation, loss curve, Hugging Face export\n");
    bert_t::workspace_type ws(static_cast<int>(opt.batch), static_cast<int>(opt.seq));
    const mlm_eval full{&heldout, masking_vocab, &unigram, opt.batch, opt.seq, heldout.size()};
    const auto result = full(*model, ws);
    plot(to.csv_log, opt.out / "loss.png", "MLM pretraining of a small BERT", true);
    io::export_hf(opt.out / "hf", *model, {.tokenizer = &tok});
    {
      // For tools/check_hf_export.py: held-out batches corrupted as in the
      // evaluation, and our loss on them (transformers must reproduce it).
      objectives::masked_lm<bert_t> check({.select = 0.15, .mask = 1.0, .random = 0.0, .seed = 20241}, masking_vocab,
                                          static_cast<int>(opt.batch), static_cast<int>(opt.seq));
      std::vector<std::int64_t> ids, types, attention, labels;
      double sum = 0, count = 0;
      std::int64_t rows = 0;
      for (std::size_t i = 0; i < heldout.size() && i < 8; ++i) {
        const data::batch& b = heldout[i];
        const double l = check.loss(*model, ws, objectives::token_batch_of(b), 0);
        sum += l * check.selected();
        count += check.selected();
        for (std::size_t k = 0; k < b.ids.size(); ++k) {
          ids.push_back(check.corrupted()[k]);
          types.push_back(b.segments[k]);
          attention.push_back(static_cast<int>(k % opt.seq) < b.lengths[k / opt.seq] ? 1 : 0);
          labels.push_back(check.labels()[k]);
        }
        rows += b.size;
      }
      const double loss = count > 0 ? sum / count : 0.0;
      const std::vector<std::int64_t> shape{rows, static_cast<std::int64_t>(opt.seq)};
      // And our token ids of 20 held-out lines (metadata text_<i>, ids_<i>):
      // the exported tokenizer.json must give the same in transformers.
      std::map<std::string, std::string> sentences;
      std::ifstream lines(heldout_txt);
      for (std::string line; sentences.size() < 40 && std::getline(lines, line);) {
        if (line.empty() || line.size() > 300) continue;
        const std::string key = std::to_string(sentences.size() / 2);
        std::string ids_text;
        for (const auto id : tok.encode(line, tok.default_options()).ids) ids_text += (ids_text.empty() ? "" : " ") + std::to_string(id);
        sentences["text_" + key] = line;
        sentences["ids_" + key] = ids_text;
      }
      io::write_safetensors(opt.out / "hf_check.safetensors",
                            std::vector<io::tensor_ref>{
                                io::tensor_ref::of<std::int64_t>("input_ids", shape, std::span<const std::int64_t>(ids)),
                                io::tensor_ref::of<std::int64_t>("token_type_ids", shape, std::span<const std::int64_t>(types)),
                                io::tensor_ref::of<std::int64_t>("attention_mask", shape,
                                                                 std::span<const std::int64_t>(attention)),
                                io::tensor_ref::of<std::int64_t>("labels", shape, std::span<const std::int64_t>(labels)),
                                io::tensor_ref::of<double>("loss", {}, std::span<const double>(&loss, 1))},
                            sentences);
    }
    std::printf("   checkpoint: %s\n   Hugging Face folder: %s\n",
                train::latest_checkpoint(to.checkpoint_dir)->c_str(), (opt.out / "hf").c_str());
    const double x = result.at("heldout_mlm_loss"), y = result.at("unigram_loss");
    std::printf("pretraining: heldout_mlm_loss=%.4f unigram_loss=%.4f\n", x, y);
    if (!std::isfinite(x) || !std::isfinite(report.last_loss)) {
      std::printf("a loss is not finite: the run failed\n");
      return 1;
    }
    // The goal (1 nat below the baseline) is the full run's: 10 minutes.
    std::printf("   %.3f nats below the unigram baseline (the goal of a 10-minute run: 1.0; %s)\n", y - x,
                y - x >= 1.0 ? "met" : "not met");
    if (!opt.smoke && opt.minutes >= 10.0 && !(x < y)) {
      std::printf("the model did not get below the unigram baseline: it learned nothing from context\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "04_pretraining: %s\n", e.what());
    return 1;
  }
}
