// The trainer's pieces that stand alone: learning-rate schedules (exact
// values at the corners), and checkpoints that lose nothing — a round trip
// restores weights, moments, step and state exactly; the last k are kept; an
// interrupted save's leftovers are ignored and removed; a full disk
// (RLIMIT_FSIZE in a child process) leaves the previous checkpoint intact
// and says so; broken files are named errors.
#include <catch2/catch.hpp>

#include <autodidact/models/encoder.hpp>
#include <autodidact/train/checkpoint.hpp>
#include <autodidact/train/schedule.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>
#include "../support/scratch.hpp"

namespace train_checkpoint_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = autodidact_test::scratch_folder("autodidact_train_test") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

using model_t = models::encoder<tiny_encoder, f32>;

struct run {
  std::unique_ptr<model_t> model = std::make_unique<model_t>(1, 8, models::init_options{.seed = 4});
  optim::adamw<float> opt{model_t::plan::gradient_elements, {.lr = 1e-3}};
  // One optimizer step on made-up gradients, so the moments are not zero
  // (on real parameters only: alignment padding has no gradient and is not saved).
  void step(float g) {
    std::vector<float> grads(model_t::plan::gradient_elements, 0.0f);
    model_t::layout.for_each_parameter([&](const auto&, std::size_t, const models::param_spec& spec, std::size_t at) {
      for (std::size_t i = 0; i < spec.elements(); ++i)
        grads[at - model_t::plan::first_trainable + i] = g * static_cast<float>((at + i) % 7) - 0.3f;
    });
    opt.step(model->trainable_parameters(), grads);
  }
};

}  // namespace

TEST_CASE("schedules: warmup, then constant, linear or cosine decay", "[train]") {
  train::lr_schedule s{.peak = 1.0, .warmup_steps = 3, .total_steps = 13, .decay = train::decay_kind::linear};
  s.check();
  CHECK(s.at(0) == Approx(0.25));
  CHECK(s.at(2) == Approx(0.75));
  CHECK(s.at(3) == Approx(1.0));
  CHECK(s.at(8) == Approx(0.5));
  CHECK(s.at(13) == Approx(0.0).margin(1e-15));
  CHECK(s.at(20) == Approx(0.0).margin(1e-15));
  s.decay = train::decay_kind::cosine;
  CHECK(s.at(8) == Approx(0.5));
  CHECK(s.at(13) == Approx(0.0).margin(1e-15));
  s.final_fraction = 0.1;
  CHECK(s.at(13) == Approx(0.1));
  s.decay = train::decay_kind::constant;
  CHECK(s.at(12) == Approx(1.0));
  CHECK_THROWS_WITH((train::lr_schedule{.peak = 1, .warmup_steps = 5, .total_steps = 4}.check()),
                    Contains("total_steps = 4 must be at least 1 and at least warmup_steps = 5"));
  CHECK_THROWS_WITH((train::lr_schedule{.peak = -1}.check()), Contains("peak learning rate -1 must be positive"));
  // Warmup-stable-decay: 3 warmup steps, 8 of the 10 after them at the peak,
  // then linear decay over the last 2.
  train::lr_schedule w{.peak = 2.0, .warmup_steps = 3, .total_steps = 13, .stable_fraction = 0.8};
  w.check();
  CHECK(w.at(0) == Approx(0.5));
  CHECK(w.at(3) == Approx(2.0));
  CHECK(w.at(10) == Approx(2.0));
  CHECK(w.at(11) == Approx(2.0));
  CHECK(w.at(12) == Approx(1.0));
  CHECK(w.at(13) == Approx(0.0).margin(1e-15));
  CHECK_THROWS_WITH((train::lr_schedule{.stable_fraction = 1.0}.check()),
                    Contains("stable_fraction = 1 must be in [0, 1)"));
  // The decay moved (trainer_options::fit_decay_to_budget): the peak held
  // to step 20, then linear to 0 at step 30; the warmup unchanged.
  CHECK(w.decay_start() == 11);
  const train::lr_schedule m = w.with_decay(20, 30);
  m.check();
  CHECK(m.decay_start() == 20);
  CHECK(m.at(1) == w.at(1));
  CHECK(m.at(19) == Approx(2.0));
  CHECK(m.at(20) == Approx(2.0));  // the first decayed step's lr is (30 - 20) / 10 of the peak
  CHECK(m.at(25) == Approx(1.0));
  CHECK(m.at(30) == Approx(0.0).margin(1e-15));
  CHECK(w.with_decay(11, 13).at(12) == Approx(w.at(12)));  // the same decay: the same schedule
  CHECK_THROWS_WITH(w.with_decay(2, 30), Contains("must start after the warmup (3 steps)"));
  CHECK_THROWS_WITH(w.with_decay(20, 20), Contains("a decay from step 20 to step 20"));
}

TEST_CASE("a checkpoint restores weights, moments, step and state exactly; the last k are kept", "[train]") {
  const fs::path dir = scratch("roundtrip");
  run a;
  for (int s = 1; s <= 4; ++s) {
    a.step(0.1f * static_cast<float>(s));
    train::save_checkpoint(dir, *a.model, a.opt,
                           {.step = s, .data_epoch = 1, .data_windows = 40u * static_cast<std::uint64_t>(s), .seed = 9,
                            .loss = 1.5 / s, .tokens = 1000 * s},
                           {.keep_last = 2, .on_stage = {}});
  }
  const auto all = train::detail::checkpoints_in(dir);
  REQUIRE(all.size() == 2u);
  CHECK(all[0].filename() == "step-00000003");
  CHECK(all[1].filename() == "step-00000004");
  run b;
  const train::train_state s = train::load_checkpoint(*train::latest_checkpoint(dir), *b.model, b.opt);
  CHECK(s == train::train_state{.step = 4, .data_epoch = 1, .data_windows = 160, .seed = 9, .loss = 1.5 / 4,
                                .tokens = 4000});
  CHECK(b.opt.steps() == a.opt.steps());
  const bool params = std::equal(a.model->parameters().begin(), a.model->parameters().end(), b.model->parameters().begin());
  const bool m = std::equal(a.opt.first_moment().begin(), a.opt.first_moment().end(), b.opt.first_moment().begin());
  const bool v = std::equal(a.opt.second_moment().begin(), a.opt.second_moment().end(), b.opt.second_moment().begin());
  CHECK(params);
  CHECK(m);
  CHECK(v);
  // The next step gives the same bits on both.
  a.step(0.7f);
  b.step(0.7f);
  CHECK(std::equal(a.model->parameters().begin(), a.model->parameters().end(), b.model->parameters().begin()));
}

TEST_CASE("an interrupted save leaves no checkpoint and is cleaned up by the next", "[train]") {
  const fs::path dir = scratch("interrupted");
  run a;
  a.step(0.2f);
  train::save_checkpoint(dir, *a.model, a.opt, {.step = 1});
  // A save that fails after writing the model (the hook throws there).
  CHECK_THROWS_WITH(train::save_checkpoint(dir, *a.model, a.opt, {.step = 2},
                                           {.on_stage = [](const char* stage) {
                                              if (std::string(stage) == "model") throw std::runtime_error("boom");
                                            }}),
                    Contains("the checkpoint of step 2 was not written (boom)") &&
                        Contains("step-00000001 is intact"));
  CHECK(train::latest_checkpoint(dir)->filename() == "step-00000001");
  // A leftover temporary folder (a kill mid-save) is ignored, then removed.
  fs::create_directories(dir / ".step-00000002.tmp");
  std::ofstream(dir / ".step-00000002.tmp" / "model.safetensors") << "half";
  CHECK(train::latest_checkpoint(dir)->filename() == "step-00000001");
  train::save_checkpoint(dir, *a.model, a.opt, {.step = 2});
  CHECK(!fs::exists(dir / ".step-00000002.tmp"));
  CHECK(train::latest_checkpoint(dir)->filename() == "step-00000002");
}

TEST_CASE("a full disk while saving leaves the previous checkpoint intact and says so", "[train]") {
  const fs::path dir = scratch("full_disk");
  run a;
  a.step(0.3f);
  train::save_checkpoint(dir, *a.model, a.opt, {.step = 1});
  const auto before = fs::file_size(dir / "step-00000001" / "model.safetensors");
  // In a child: files may not grow past 64 KB, so the model (hundreds of KB) cannot be written.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead of killing
    rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 3;
    try {
      train::save_checkpoint(dir, *a.model, a.opt, {.step = 2});
      code = 1;  // it should have failed
    } catch (const io_error& e) {
      const std::string what = e.what();
      code = what.find("step 2 was not written") != std::string::npos &&
                     what.find("step-00000001 is intact") != std::string::npos
                 ? 0
                 : 2;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(train::latest_checkpoint(dir)->filename() == "step-00000001");
  CHECK(!fs::exists(dir / "step-00000002"));
  CHECK(fs::file_size(dir / "step-00000001" / "model.safetensors") == before);
  run b;
  CHECK(train::load_checkpoint(dir / "step-00000001", *b.model, b.opt).step == 1);
}

TEST_CASE("broken checkpoint files are named errors", "[train]") {
  const fs::path dir = scratch("broken");
  run a;
  const auto path = train::save_checkpoint(dir, *a.model, a.opt, {.step = 5});
  run b;
  std::ofstream(path / "state.json") << "{ not json";
  CHECK_THROWS_WITH(train::load_checkpoint(path, *b.model, b.opt), Contains("state.json: not valid JSON"));
  std::ofstream(path / "state.json") << R"({"format": "autodidact-train-state", "step": "five"})";
  CHECK_THROWS_WITH(train::load_checkpoint(path, *b.model, b.opt), Contains("state.json: missing field \"data_epoch\"") ||
                                                                       Contains("wrong type"));
  fs::remove(path / "optimizer.safetensors");
  CHECK_THROWS_WITH(train::load_checkpoint(path, *b.model, b.opt), Contains("optimizer.safetensors"));
}

}  // namespace train_checkpoint_tests
