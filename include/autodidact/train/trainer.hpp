#pragma once
// The training loop: batches from a data pipeline, an objective (MLM, CLM,
// ...) on a model, gradient accumulation, AdamW with parameter groups (no
// decay on biases and LayerNorm parameters), a learning-rate schedule,
// global-norm clipping, evaluation every N steps into a CSV log, progress
// (a bar on a terminal, plain lines otherwise) and checkpoints that resume
// bit for bit (train/checkpoint.hpp).
//
//   train::trainer_options o{.steps = 2000, .accumulation = 2, .schedule = {...},
//                            .checkpoint_dir = "run/checkpoints", .checkpoint_every = 200};
//   train::trainer<model_t, objectives::masked_lm<model_t>, tok_model> t(model, mlm, pipeline, o);
//   t.run();   // resumes from the newest checkpoint in checkpoint_dir, if any
//
// What makes a resumed run equal the uninterrupted one, bit for bit: the
// weights, both moments and the AdamW step count come from the checkpoint;
// the pipeline seeks to the saved (epoch, window) position and yields the
// same batches; masking is keyed by (seed, epoch, window index) and dropout
// by (seed, step); the learning rate is a function of the step.
//
// parallel_micro_batches: the accumulation's micro-batches run at once, one
// per thread (data parallelism on one machine: each thread its own
// workspace and a copy of the objective, the model shared read-only, the
// kernels inside on one thread each; the gradients summed in micro-batch
// order). Small models, whose kernels are too short to split well over
// threads, train faster so; the result does not depend on the thread count.

#include <unistd.h>  // for ::isatty, STDERR_FILENO

#include <algorithm>   // for std::max, std::min
#include <chrono>      // for std::chrono::steady_clock
#include <cmath>       // for std::isfinite
#include <cstdint>     // for std::int64_t, std::uint64_t
#include <cstdio>      // for std::fprintf, std::fflush
#include <exception>   // for std::exception_ptr, std::current_exception, std::rethrow_exception
#include <filesystem>  // for std::filesystem::path
#include <fstream>     // for std::ofstream
#include <functional>  // for std::function
#include <map>         // for std::map
#include <memory>      // for std::unique_ptr, std::make_unique
#include <optional>    // for std::optional
#include <span>        // for std::span
#include <string>      // for std::string
#include <type_traits> // for std::is_copy_constructible_v
#include <utility>     // for std::as_const
#include <vector>      // for std::vector

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autodidact/core/error.hpp"              // for error, require
#include "autodidact/data/pipeline.hpp"           // for data::pipeline, data::batch
#include "autodidact/kernels/adamw.hpp"           // for kernels::global_norm, kernels::scale
#include "autodidact/objectives/token_batch.hpp"  // for objectives::token_batch_of
#include "autodidact/optim/adamw.hpp"             // for optim::adamw
#include "autodidact/train/checkpoint.hpp"        // for save_checkpoint, load_checkpoint, train_state
#include "autodidact/train/schedule.hpp"          // for lr_schedule

namespace autodidact::train {

// A loss or gradient norm that is not finite: the run stops before the
// optimizer step, the parameters and the last checkpoint untouched.
class training_diverged : public error {
 public:
  using error::error;
};

struct trainer_options {
  std::int64_t steps = 1000;       // optimizer steps in all (a resumed run continues to this)
  int accumulation = 1;            // micro-batches per optimizer step (their gradients are averaged)
  bool parallel_micro_batches = false;  // run them at once, one per thread (see above)
  lr_schedule schedule{};          // the learning rate of each step (total_steps: usually = steps)
  kernels::adamw_options adamw{};  // betas, eps, weight decay (lr comes from the schedule)
  double max_grad_norm = 1.0;      // global-norm clipping (0: none)
  std::uint64_t seed = 0;          // dropout (with the step); the objective has its own for masking
  float dropout = 0.1f;            // hidden and attention dropout while training
  std::int64_t eval_every = 0;     // evaluate every N steps (and at the end); 0: only at the end
  std::filesystem::path checkpoint_dir;  // empty: no checkpoints, no resume
  std::int64_t checkpoint_every = 0;     // steps between checkpoints (and at the end); 0: only at the end
  int keep_last = 3;                     // checkpoints kept
  std::filesystem::path csv_log;         // one line per evaluation (empty: none)
  double max_seconds = 0.0;              // wall-time budget: stop (and checkpoint) when spent; 0: none
  // With max_seconds: re-plan the schedule's decay so that it ends at about
  // 95 % of the budget, from the time per step of the last quarter of the
  // steps so far. It starts when due, or earlier (not before the warmup's
  // end) once the time spent reaches the stable phase's share
  // (stable_fraction) of the budget after warmup. A machine that slows
  // down (or speeds up) mid-run then still gets a whole decay instead of a
  // stop part-way through it, or before it. The run ends with the re-planned decay
  // (below or above `steps`); checkpoints keep it (train_state::decay_start,
  // decay_end), so a resumed run follows it.
  bool fit_decay_to_budget = false;
  bool progress = true;                  // progress bar / lines on stderr
  std::int64_t log_every = 0;            // plain progress lines every N steps when not on a terminal (0: ~20 lines)
};

// What run() did.
struct run_report {
  std::int64_t first_step = 0;  // 0, or the step resumed from
  std::int64_t steps = 0;       // the step reached
  double last_loss = 0.0;
  double seconds = 0.0;
  std::int64_t tokens = 0;      // tokens trained on in this run
  bool stopped_by_time = false;
  std::map<std::string, double> last_eval;
};

template <class Model, class Objective, class TokenizerModel>
class trainer {
 public:
  using T = typename Model::T;
  using workspace_type = typename Model::workspace_type;
  // Named metrics on held-out data (e.g. {"heldout_mlm_loss", x}); called
  // with the model and a workspace it may use.
  using evaluator = std::function<std::map<std::string, double>(const Model&, workspace_type&)>;

  trainer(Model& model, Objective& objective, data::pipeline<TokenizerModel>& data, trainer_options options,
          evaluator evaluate = {})
      : model_(model),
        objective_(objective),
        data_(data),
        o_(std::move(options)),
        evaluate_(std::move(evaluate)),
        ws_(static_cast<int>(data.options().batch_size), static_cast<int>(data.options().windows.length)),
        opt_(Model::plan::gradient_elements, o_.adamw) {
    require(o_.steps >= 1, "trainer: steps = ", o_.steps, " must be at least 1");
    require(o_.accumulation >= 1, "trainer: accumulation = ", o_.accumulation, " must be at least 1");
    require(o_.max_grad_norm >= 0.0, "trainer: max_grad_norm = ", o_.max_grad_norm, " must not be negative");
    o_.schedule.check();
    follow(train_state{});
    ws_.set_dropout({.hidden = o_.dropout, .attention = o_.dropout, .seed = o_.seed});
    if (o_.parallel_micro_batches && o_.accumulation > 1) {
      if constexpr (!std::is_copy_constructible_v<Objective>) {
        raise<invalid_argument>("trainer: parallel_micro_batches copies the objective per thread; this one cannot "
                                "be copied");
      }
      for (int i = 1; i < o_.accumulation; ++i) {
        extra_ws_.push_back(std::make_unique<workspace_type>(ws_.max_batch(), ws_.max_seq()));
        extra_ws_.back()->set_dropout({.hidden = o_.dropout, .attention = o_.dropout, .seed = o_.seed});
      }
      micro_batches_.resize(static_cast<std::size_t>(o_.accumulation));
    }
  }

  // Test hook: called after each optimizer step with (step number from 1,
  // its loss, the gradient norm before clipping).
  std::function<void(std::int64_t, double, double)> on_step;
  // Test hook, passed to every checkpoint save (checkpoint_options::on_stage).
  std::function<void(const char*)> on_checkpoint_stage;
  // Test hook: the seconds since run() started, in place of the steady
  // clock (the time budget and fit_decay_to_budget read it).
  std::function<double()> clock;

  optim::adamw<T>& optimizer() noexcept { return opt_; }
  workspace_type& workspace() noexcept { return ws_; }

  // Trains from the newest checkpoint in checkpoint_dir (or from the
  // start) up to o.steps, or until the time budget is spent.
  run_report run() {
    run_report report;
    train_state state{.seed = o_.seed};
    if (!o_.checkpoint_dir.empty()) {
      if (auto last = latest_checkpoint(o_.checkpoint_dir)) {
        state = load_checkpoint(*last, model_, opt_);
        require(state.seed == o_.seed, "trainer: the checkpoint ", last->string(), " was made with seed ", state.seed,
                ", this run has seed ", o_.seed, ": resuming would not continue the same run");
        data_.seek({state.data_epoch, state.data_windows});
        log("resumed from %s (step %lld)\n", last->string().c_str(), static_cast<long long>(state.step));
      }
    }
    report.first_step = state.step;
    follow(state);
    step_seconds_.clear();
    warmup_seconds_ = 0.0;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
      return clock ? clock() : std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    double smoothed = 0.0;
    const std::int64_t log_every =
        o_.log_every > 0 ? o_.log_every : std::max<std::int64_t>(1, (end_ - state.step) / 20);
    ws_.set_training(true);
    while (state.step < end_) {
      const double loss = one_step(state);
      ++state.step;
      const auto pos = data_.position();
      state.data_epoch = pos.epoch;
      state.data_windows = pos.windows;
      state.loss = loss;
      report.tokens += tokens_last_step_;
      state.tokens += tokens_last_step_;
      smoothed = state.step == report.first_step + 1 ? loss : 0.95 * smoothed + 0.05 * loss;
      if (on_step) on_step(state.step, loss, last_norm_);
      const double secs = elapsed();
      if (o_.fit_decay_to_budget && o_.max_seconds > 0.0 && o_.schedule.decay != decay_kind::constant &&
          state.decay_end == 0 && state.step < o_.steps) {
        step_seconds_.push_back(secs);
        fit_decay(state, secs);
      }
      const bool out_of_time = o_.max_seconds > 0.0 && secs >= o_.max_seconds;
      const bool last = state.step == end_ || out_of_time;
      if (o_.progress) progress(state, smoothed, secs, report, log_every, last);
      if ((o_.eval_every > 0 && state.step % o_.eval_every == 0) || last) {
        report.last_eval = evaluate(state, smoothed, secs);
        ws_.set_training(true);
      }
      if (!o_.checkpoint_dir.empty() && ((o_.checkpoint_every > 0 && state.step % o_.checkpoint_every == 0) || last)) {
        save_checkpoint(o_.checkpoint_dir, model_, opt_, state,
                        {.keep_last = o_.keep_last, .on_stage = on_checkpoint_stage});
      }
      if (out_of_time && state.step < end_) {
        report.stopped_by_time = true;
        log("stopped by the time budget (%.0f s) at step %lld of %lld\n", o_.max_seconds,
            static_cast<long long>(state.step), static_cast<long long>(end_));
        break;
      }
    }
    ws_.set_training(false);
    report.steps = state.step;
    report.last_loss = state.loss;
    report.seconds = elapsed();
    return report;
  }

  // The schedule and the last step the run follows (the options', or the
  // decay re-planned by fit_decay_to_budget).
  const lr_schedule& schedule() const noexcept { return schedule_; }
  std::int64_t end_step() const noexcept { return end_; }

 private:
  void follow(const train_state& state) {
    schedule_ = state.decay_end > 0 ? o_.schedule.with_decay(state.decay_start, state.decay_end) : o_.schedule;
    end_ = state.decay_end > 0 ? state.decay_end : o_.steps;
  }

  // fit_decay_to_budget, after each step until the decay is re-planned. It
  // starts at the planned step, or earlier (not before the warmup's end)
  // once the time spent reaches the stable phase's share of the time after
  // warmup (stable_fraction of it), and gets as many steps as fit in 95 %
  // of what is left at the pace of the last quarter of the steps.
  void fit_decay(train_state& state, double secs) {
    const std::int64_t warmup = o_.schedule.warmup_steps;
    if (state.step == warmup) warmup_seconds_ = secs;
    if (state.step < warmup || state.step > o_.schedule.decay_start()) return;
    const double stable_until = warmup_seconds_ + o_.schedule.stable_fraction * (o_.max_seconds - warmup_seconds_);
    if (state.step < o_.schedule.decay_start() && secs < stable_until) return;
    const std::size_t n = step_seconds_.size();
    const std::size_t window = std::max<std::size_t>(1, n / 4);
    const double per_step = n > window ? (step_seconds_[n - 1] - step_seconds_[n - 1 - window]) / double(window)
                                       : secs / double(n);
    const double left = 0.95 * (o_.max_seconds - secs);
    const auto steps = per_step > 0.0 ? static_cast<std::int64_t>(std::min(left / per_step, 1e15)) : 1;
    state.decay_start = state.step;
    state.decay_end = state.step + std::max<std::int64_t>(1, steps);
    follow(state);
    log("the decay re-planned to fit the time budget: steps %lld to %lld (%.1f ms a step, %.0f s left; planned: %lld)\n",
        static_cast<long long>(state.decay_start), static_cast<long long>(state.decay_end), 1e3 * per_step,
        o_.max_seconds - secs, static_cast<long long>(o_.steps));
  }

  // One micro-batch's forward, loss and backward by the objective (with
  // the batch's epoch, for objectives whose corruption is keyed by it);
  // the same call whether the model is shared read-only (parallel
  // micro-batches) or not.
  template <class Obj, class M, class W>
  static double train_step_of(Obj& objective, M& model, W& w, const data::batch& b) {
    const auto tb = objectives::token_batch_of(b);
    if constexpr (requires { objective.train_step(model, w, tb, std::uint32_t{0}); })
      return static_cast<double>(objective.train_step(model, w, tb, static_cast<std::uint32_t>(b.epoch)));
    else
      return static_cast<double>(objective.train_step(model, w, tb));
  }

  // One optimizer step: accumulation micro-batches, then AdamW.
  double one_step(const train_state& state) {
    ws_.zero_gradients();
    double loss_sum = 0.0;
    tokens_last_step_ = 0;
    if (!extra_ws_.empty()) {
      loss_sum = parallel_micro_steps(state);
    } else {
      for (int micro = 0; micro < o_.accumulation; ++micro) {
        if (!data_.next(batch_) && !data_.next(batch_)) {
          raise<invalid_argument>("trainer: the data pipeline yields no batch (an epoch without windows)");
        }
        ws_.set_step(static_cast<std::uint32_t>(state.step * o_.accumulation + micro));
        const double loss = train_step_of(objective_, model_, ws_, batch_);
        if (!std::isfinite(loss)) {
          raise<training_diverged>("trainer: the loss of step ", state.step + 1, " (micro-batch ", micro + 1,
                                   ") is ", loss, "; the run stops, the parameters and the last checkpoint are untouched");
        }
        loss_sum += loss;
        for (int l : batch_.lengths) tokens_last_step_ += l;
      }
    }
    auto grads = ws_.gradients();
    if (o_.accumulation > 1)
      kernels::scale(static_cast<std::ptrdiff_t>(grads.size()), grads.data(), static_cast<T>(1.0 / o_.accumulation));
    last_norm_ = kernels::global_norm(static_cast<std::ptrdiff_t>(grads.size()), grads.data());
    if (!std::isfinite(last_norm_)) {
      raise<training_diverged>("trainer: the gradient norm of step ", state.step + 1, " is ", last_norm_,
                               "; the run stops, the parameters and the last checkpoint are untouched");
    }
    opt_.set_lr(schedule_.at(state.step));
    opt_.step(model_.trainable_parameters(), grads, std::span<const models::decay_range>(Model::plan::decay_groups),
              o_.max_grad_norm);
    return loss_sum / o_.accumulation;
  }

  // parallel_micro_batches: the step's micro-batches taken from the
  // pipeline in order, then run at once (micro-batch i on workspace i with
  // objective copy i), their gradients summed into ws_ in order. Returns
  // the sum of their losses.
  double parallel_micro_steps(const train_state& state) {
    const int n = o_.accumulation;
    for (int micro = 0; micro < n; ++micro) {
      data::batch& b = micro_batches_[static_cast<std::size_t>(micro)];
      if (!data_.next(b) && !data_.next(b)) {
        raise<invalid_argument>("trainer: the data pipeline yields no batch (an epoch without windows)");
      }
      for (int l : b.lengths) tokens_last_step_ += l;
    }
    if constexpr (std::is_copy_constructible_v<Objective>) {
      while (static_cast<int>(replicas_.size()) < n - 1) replicas_.push_back(objective_);
      if constexpr (requires { model_.pack_weights(); })
        if (model_.packs_weights() && !model_.packed_weights_fresh()) model_.pack_weights();
      std::vector<double> losses(static_cast<std::size_t>(n), 0.0);
      std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
      int threads = 1;
#ifdef _OPENMP
      threads = std::min(n, omp_get_max_threads());
#endif
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
      for (int micro = 0; micro < n; ++micro) {
        try {
          workspace_type& w = micro == 0 ? ws_ : *extra_ws_[static_cast<std::size_t>(micro - 1)];
          Objective& objective = micro == 0 ? objective_ : replicas_[static_cast<std::size_t>(micro - 1)];
          if (micro > 0) {
            w.zero_gradients();
            w.set_training(true);
          }
          w.set_step(static_cast<std::uint32_t>(state.step * n + micro));
          losses[static_cast<std::size_t>(micro)] = train_step_of(
              objective, std::as_const(model_), w, micro_batches_[static_cast<std::size_t>(micro)]);
        } catch (...) {
          errors[static_cast<std::size_t>(micro)] = std::current_exception();
        }
      }
      for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
      double sum = 0.0;
      for (int micro = 0; micro < n; ++micro) {
        const double loss = losses[static_cast<std::size_t>(micro)];
        if (!std::isfinite(loss)) {
          raise<training_diverged>("trainer: the loss of step ", state.step + 1, " (micro-batch ", micro + 1,
                                   ") is ", loss, "; the run stops, the parameters and the last checkpoint are untouched");
        }
        sum += loss;
      }
      auto grads = ws_.gradients();
      for (const auto& w : extra_ws_) {
        const auto g = w->gradients();
        for (std::size_t i = 0; i < grads.size(); ++i) grads[i] += g[i];
      }
      return sum;
    } else {
      return 0.0;  // refused by the constructor
    }
  }

  std::map<std::string, double> evaluate(const train_state& state, double smoothed, double secs) {
    std::map<std::string, double> metrics;
    if (evaluate_) {
      ws_.set_training(false);
      metrics = evaluate_(model_, ws_);
    }
    if (!o_.csv_log.empty()) {
      const bool fresh = !std::filesystem::exists(o_.csv_log) || std::filesystem::file_size(o_.csv_log) == 0;
      std::ofstream csv(o_.csv_log, std::ios::app);
      if (!csv) raise<io_error>(o_.csv_log.string(), ": cannot open the CSV log for writing");
      if (fresh) {
        csv << "step,tokens,seconds,lr,train_loss";
        for (const auto& [k, v] : metrics) csv << ',' << k;
        csv << '\n';
      }
      csv << state.step << ',' << state.tokens << ',' << secs << ',' << schedule_.at(state.step - 1) << ','
          << smoothed;
      for (const auto& [k, v] : metrics) csv << ',' << v;
      csv << '\n';
    }
    if (o_.progress && !metrics.empty()) {
      std::string line;
      for (const auto& [k, v] : metrics) line += " " + k + "=" + std::to_string(v);
      log("%seval at step %lld:%s\n", tty() ? "\n" : "", static_cast<long long>(state.step), line.c_str());
    }
    return metrics;
  }

  static bool tty() { return ::isatty(STDERR_FILENO) != 0; }

  template <class... Args>
  static void log(const char* format, Args... args) {
    std::fprintf(stderr, format, args...);
    std::fflush(stderr);
  }

  void progress(const train_state& state, double smoothed, double secs, const run_report& report,
                std::int64_t log_every, bool last) {
    const double done = static_cast<double>(state.step - report.first_step);
    const double rate = secs > 0 ? static_cast<double>(report.tokens) / secs : 0.0;
    const double eta = done > 0 ? secs / done * static_cast<double>(end_ - state.step) : 0.0;
    const double lr = schedule_.at(state.step - 1);
    if (tty()) {
      constexpr int width = 30;
      const int filled = static_cast<int>(width * static_cast<double>(state.step) / static_cast<double>(end_));
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '.');
      log("\r[%s] step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %.0fs ", bar.c_str(),
          static_cast<long long>(state.step), static_cast<long long>(end_), smoothed, lr, rate, eta);
      if (last) log("\n");
    } else if (state.step % log_every == 0 || last) {
      log("step %lld/%lld loss=%.4f lr=%.3e tokens_per_s=%.0f eta_s=%.0f\n", static_cast<long long>(state.step),
          static_cast<long long>(end_), smoothed, lr, rate, eta);
    }
  }

  Model& model_;
  Objective& objective_;
  data::pipeline<TokenizerModel>& data_;
  trainer_options o_;
  evaluator evaluate_;
  workspace_type ws_;
  optim::adamw<T> opt_;
  data::batch batch_;
  std::vector<std::unique_ptr<workspace_type>> extra_ws_;  // parallel_micro_batches: micro-batches 1..n-1
  std::vector<Objective> replicas_;                         // and their objectives
  std::vector<data::batch> micro_batches_;
  std::int64_t tokens_last_step_ = 0;
  double last_norm_ = 0.0;
  lr_schedule schedule_;
  std::int64_t end_ = 0;
  std::vector<double> step_seconds_;  // elapsed seconds after each step of this run (fit_decay_to_budget)
  double warmup_seconds_ = 0.0;       // elapsed seconds at the warmup's end (fit_decay_to_budget)
};

}  // namespace autodidact::train
