// A pretraining run killed with SIGKILL — between steps, and while it
// writes a checkpoint — and resumed from its last checkpoint reproduces the
// losses of the uninterrupted run bit for bit. Every run happens in a
// forked child (the parent never starts OpenMP, so forking is safe); each
// child appends "step loss" lines (hexadecimal floats) to a file the parent
// compares. Also: a NaN stops the run naming the step, with the last
// checkpoint untouched.
#include <catch2/catch.hpp>

#include <autodidact/data/pipeline.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/objectives/mlm.hpp>
#include <autodidact/tokenizers/wordpiece.hpp>
#include <autodidact/train/trainer.hpp>

#include <sys/wait.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>
#include "../support/scratch.hpp"

namespace train_resume_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
namespace fs = std::filesystem;
namespace tk = autodidact::tokenizers;

namespace {

const char* words[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "a", "big", "red", "sun",
                       "hat", "fox", "box", "in", "up", "sky", "blue", "old", "new"};

fs::path scratch(const std::string& name) {
  const fs::path dir = autodidact_test::scratch_folder("autodidact_resume") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const tk::wordpiece_tokenizer& tokenizer() {
  static const auto tok = [] {
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const char* w : words) vocab += std::string(w) + "\n";
    return tk::wordpiece_vocab_from_string(vocab, "resume/vocab.txt");
  }();
  return tok;
}

// 300 lines of 3..9 words, a blank line every 5.
std::string corpus(const fs::path& dir) {
  const fs::path path = dir / "corpus.txt";
  std::ofstream out(path);
  std::uint32_t x = 12345;
  for (int line = 0; line < 300; ++line) {
    x = x * 1103515245u + 12345u;
    const int n = 3 + static_cast<int>((x >> 16) % 7);
    for (int i = 0; i < n; ++i) {
      x = x * 1103515245u + 12345u;
      out << (i ? " " : "") << words[(x >> 16) % 20];
    }
    out << '\n';
    if (line % 5 == 4) out << '\n';
  }
  return path.string();
}

constexpr model_config cfg{.vocab = 25, .max_positions = 16, .d_model = 32, .heads = 2, .d_ff = 48, .layers = 2,
                           .type_vocab = 2, .layer_norm_eps = 1e-12, .gelu = gelu_kind::erf,
                           .norm = norm_placement::post, .tied_lm_head = true, .pooler = false};
using model_t = models::encoder<cfg, f32>;

// The data of every run: windows of 16, a shuffle buffer of 8, batches of 4.
data::pipeline_options pipeline_options_for(const std::string& corpus_path) {
  data::pipeline_options po;
  po.files = {corpus_path};
  po.windows = data::bert_window_options(tokenizer(), 16);
  po.shuffle_buffer = 8;
  po.seed = 3;
  po.batch_size = 4;
  return po;
}

objectives::masked_lm<model_t> make_mlm() {
  const std::int32_t specials[] = {0, 1, 2, 3};
  return objectives::masked_lm<model_t>({.select = 0.3, .seed = 11},
                                        objectives::masking_vocabulary::from(25, specials, 4), 4, 16);
}

enum class kill_at { never, after_step_7, third_checkpoint_write, nan_at_step_5 };

// How the micro-batches run: one after the other (the default), or at once
// (parallel_micro_batches, with a sampled softmax in the objective) on
// `threads` threads.
struct run_mode {
  bool parallel = false;
  int threads = 1;
};

// One run (in the calling process): appends "step loss" lines to `log`.
void train_once(const fs::path& dir, const std::string& corpus_path, const fs::path& log, kill_at kill,
                run_mode mode = {}) {
#ifdef _OPENMP
  if (mode.parallel) omp_set_num_threads(mode.threads);
#endif
  auto model = std::make_unique<model_t>(1, 1, models::init_options{.seed = 7});
  const data::pipeline_options po = pipeline_options_for(corpus_path);
  data::pipeline<tk::wordpiece_model> pipe(tokenizer(), po, cfg.max_positions);
  objectives::masked_lm<model_t> mlm = make_mlm();
  if (mode.parallel) mlm.use_sampled_softmax({.negatives = 6, .seed = 2}, std::vector<double>(25, 10.0));
  train::trainer_options o{.steps = 12,
                           .accumulation = 2,
                           .parallel_micro_batches = mode.parallel,
                           .schedule = {.peak = 3e-3, .warmup_steps = 2, .total_steps = 12},
                           .seed = 5,
                           .dropout = 0.1f,
                           .checkpoint_dir = dir / "checkpoints",
                           .checkpoint_every = 3,
                           .keep_last = 2,
                           .csv_log = {},
                           .max_seconds = 0.0,
                           .progress = false};
  train::trainer<model_t, objectives::masked_lm<model_t>, tk::wordpiece_model> t(*model, mlm, pipe, o);
  int saves = 0;
  t.on_step = [&](std::int64_t step, double loss, double) {
    std::ofstream(log, std::ios::app) << step << ' ' << std::hexfloat << loss << '\n';
    if (kill == kill_at::after_step_7 && step == 7) std::raise(SIGKILL);
    if (kill == kill_at::nan_at_step_5 && step == 4) model->parameters()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  t.on_checkpoint_stage = [&](const char* stage) {
    if (std::string(stage) == "model") ++saves;
    if (kill == kill_at::third_checkpoint_write && saves == 3 && std::string(stage) == "optimizer") std::raise(SIGKILL);
  };
  t.run();
}

// Runs train_once in a child; returns its wait status.
int in_child(const fs::path& dir, const std::string& corpus_path, const fs::path& log, kill_at kill,
             const fs::path& error_file = {}, run_mode mode = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      train_once(dir, corpus_path, log, kill, mode);
    } catch (const std::exception& e) {
      if (!error_file.empty()) std::ofstream(error_file) << e.what();
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::map<long, std::string> read_log(const fs::path& log) {
  std::map<long, std::string> out;  // the last line of each step wins (a resumed run redoes steps)
  std::ifstream in(log);
  long step;
  std::string loss;
  while (in >> step >> loss) out[step] = loss;
  return out;
}

}  // namespace

TEST_CASE("a run killed between steps or while checkpointing resumes bit for bit", "[train][resume]") {
  const fs::path root = scratch("runs");
  const std::string text = corpus(root);
  // The uninterrupted run.
  REQUIRE(in_child(root / "full", text, root / "full.log", kill_at::never) == 0);
  const auto full = read_log(root / "full.log");
  REQUIRE(full.size() == 12u);
  CHECK(full.at(1) != full.at(12));

  SECTION("killed after step 7 (last checkpoint: step 6)") {
    const int status = in_child(root / "a", text, root / "a.log", kill_at::after_step_7);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(train::latest_checkpoint(root / "a" / "checkpoints")->filename() == "step-00000006");
    REQUIRE(in_child(root / "a", text, root / "a.log", kill_at::never) == 0);
    CHECK(read_log(root / "a.log") == full);
  }
  SECTION("killed while writing the checkpoint of step 9 (last complete: step 6)") {
    const int status = in_child(root / "b", text, root / "b.log", kill_at::third_checkpoint_write);
    REQUIRE(WIFSIGNALED(status));
    CHECK(fs::exists(root / "b" / "checkpoints" / ".step-00000009.tmp"));
    CHECK(train::latest_checkpoint(root / "b" / "checkpoints")->filename() == "step-00000006");
    REQUIRE(in_child(root / "b", text, root / "b.log", kill_at::never) == 0);
    CHECK(read_log(root / "b.log") == full);
    CHECK(!fs::exists(root / "b" / "checkpoints" / ".step-00000009.tmp"));
    CHECK(train::latest_checkpoint(root / "b" / "checkpoints")->filename() == "step-00000012");
  }
  SECTION("a NaN weight stops the run at the next step, naming it; the last checkpoint stays") {
    const int status = in_child(root / "c", text, root / "c.log", kill_at::nan_at_step_5, root / "c.error");
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);
    std::ifstream in(root / "c.error");
    const std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_THAT(message, Catch::Contains("step 5") && Catch::Contains("is nan") &&
                            Catch::Contains("the last checkpoint are untouched"));
    CHECK(train::latest_checkpoint(root / "c" / "checkpoints")->filename() == "step-00000003");
  }
}

TEST_CASE("parallel micro-batches: the same bits on 1 and 2 threads, and a killed run resumes bit for bit",
          "[train][resume]") {
  const fs::path root = scratch("parallel");
  const std::string text = corpus(root);
  const run_mode one{.parallel = true, .threads = 1}, two{.parallel = true, .threads = 2};
  REQUIRE(in_child(root / "one", text, root / "one.log", kill_at::never, {}, one) == 0);
  REQUIRE(in_child(root / "two", text, root / "two.log", kill_at::never, {}, two) == 0);
  const auto a = read_log(root / "one.log"), b = read_log(root / "two.log");
  REQUIRE(a.size() == 12u);
  CHECK(a == b);
  CHECK(a.at(1) != a.at(12));
  // Killed after step 7 on 2 threads, resumed from step 6.
  const int status = in_child(root / "k", text, root / "k.log", kill_at::after_step_7, {}, two);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(in_child(root / "k", text, root / "k.log", kill_at::never, {}, two) == 0);
  CHECK(read_log(root / "k.log") == a);
}

TEST_CASE("fit_decay_to_budget re-plans the decay to end with the time budget; a resumed run keeps it",
          "[train][resume]") {
  // A machine slower than planned, on a clock the test drives (30 ms a
  // step): 100 steps planned in a budget of 2 s, the peak held for half of
  // the 98 steps after warmup (the decay due at step 51, at 1.53 s). The
  // warmup ends at 0.06 s, so half of the time after it is spent at 1.03 s,
  // after step 35: the decay starts there, and 95 % of the 0.95 s left is
  // 30 steps of 30 ms, so it runs from step 35 to 65 and the run ends there,
  // at 1.95 s, its decay done — instead of being stopped by the budget at
  // step 67 with the learning rate at the peak.
  const fs::path root = scratch("fit");
  const std::string text = corpus(root);
  auto model = std::make_unique<model_t>(1, 1, models::init_options{.seed = 7});
  const data::pipeline_options po = pipeline_options_for(text);
  objectives::masked_lm<model_t> mlm = make_mlm();
  train::trainer_options o{.steps = 100,
                           .accumulation = 1,
                           .schedule = {.peak = 3e-3, .warmup_steps = 2, .total_steps = 100, .stable_fraction = 0.5},
                           .adamw = {},
                           .max_grad_norm = 1.0,
                           .seed = 5,
                           .dropout = 0.0f,
                           .eval_every = 0,
                           .checkpoint_dir = root / "checkpoints",
                           .checkpoint_every = 0,
                           .keep_last = 2,
                           .csv_log = {},
                           .max_seconds = 2.0,
                           .fit_decay_to_budget = true,
                           .progress = false};
  REQUIRE(o.schedule.decay_start() == 51);
  std::vector<double> lrs;
  train::run_report r;
  {
    data::pipeline<tk::wordpiece_model> pipe(tokenizer(), po, cfg.max_positions);
    train::trainer<model_t, objectives::masked_lm<model_t>, tk::wordpiece_model> t(*model, mlm, pipe, o);
    std::int64_t steps = 0;
    t.on_step = [&](std::int64_t step, double, double) {
      lrs.push_back(t.schedule().at(step - 1));
      steps = step;
    };
    t.clock = [&] { return 0.03 * static_cast<double>(steps); };
    r = t.run();
    CHECK(t.end_step() == 65);
  }
  CHECK_FALSE(r.stopped_by_time);
  CHECK(r.steps == 65);
  REQUIRE(lrs.size() == 65u);
  CHECK(lrs[34] == Approx(3e-3));       // step 35: the peak
  CHECK(lrs[35] == Approx(3e-3));       // step 36: the first of the decay, (65 - 35) / 30 of the peak
  CHECK(lrs[50] == Approx(3e-3 / 2));   // step 51: half way
  CHECK(lrs[64] == Approx(3e-3 / 30));  // step 65: the last
  const auto last = train::latest_checkpoint(root / "checkpoints");
  REQUIRE(last);
  CHECK(last->filename() == "step-00000065");
  const train::train_state state = train::detail::read_state(*last / "state.json");
  CHECK(state.decay_start == 35);
  CHECK(state.decay_end == 65);
  // Resumed: it follows the re-planned end, not the options' 100 steps.
  o.max_seconds = 0.0;
  data::pipeline<tk::wordpiece_model> pipe(tokenizer(), po, cfg.max_positions);
  train::trainer<model_t, objectives::masked_lm<model_t>, tk::wordpiece_model> resumed(*model, mlm, pipe, o);
  CHECK(resumed.run().steps == 65);
  CHECK(resumed.end_step() == 65);
}

}  // namespace train_resume_tests
