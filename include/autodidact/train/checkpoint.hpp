#pragma once
// Training checkpoints that lose nothing: the weights, both AdamW moments,
// the step and everything else a run needs to continue bit for bit (the
// data pipeline's position, the seeds), in one folder per step:
//
//   <dir>/step-00001200/model.safetensors      our checkpoint format (io/checkpoint.hpp)
//   <dir>/step-00001200/optimizer.safetensors  "m", "v" and the AdamW step count
//   <dir>/step-00001200/state.json             train_state
//
// Written atomically: everything goes into a hidden temporary folder, each
// file is fsync'ed, the folder is renamed into place and the parent folder
// fsync'ed. A crash or a kill at any moment leaves either the new complete
// checkpoint or none (the temporary folder is removed on the next save);
// the previous checkpoints are never touched before the new one is in
// place. The last `keep_last` are kept.
//
//   train::save_checkpoint(dir, model, optimizer, state, {.keep_last = 3});
//   if (auto last = train::latest_checkpoint(dir)) state = train::load_checkpoint(*last, model, optimizer);

#include <fcntl.h>   // for ::open, O_RDONLY, O_CLOEXEC
#include <unistd.h>  // for ::fsync, ::close

#include <algorithm>    // for std::sort
#include <charconv>     // for std::from_chars
#include <cerrno>       // for errno
#include <cstdint>      // for std::int64_t, std::uint64_t
#include <cstdio>       // for std::snprintf
#include <cstring>      // for std::strerror
#include <filesystem>   // for std::filesystem
#include <fstream>      // for std::ofstream, std::ifstream
#include <functional>   // for std::function
#include <map>          // for std::map
#include <optional>     // for std::optional
#include <sstream>      // for std::ostringstream
#include <string>       // for std::string
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"       // for raise, io_error, format_error
#include "autodidact/io/checkpoint.hpp"    // for io::save_checkpoint, io::load_checkpoint
#include "autodidact/io/json.hpp"          // for parse_json, dump_json
#include "autodidact/io/safetensors.hpp"   // for write_safetensors, safetensors_file, tensor_ref
#include "autodidact/optim/adamw.hpp"      // for optim::adamw

namespace autodidact::train {

// What a run needs besides the weights and moments to continue exactly.
struct train_state {
  std::int64_t step = 0;          // optimizer steps taken
  std::uint64_t data_epoch = 0;   // the data pipeline's position ...
  std::uint64_t data_windows = 0; // ... (data::pipeline_position)
  std::uint64_t seed = 0;         // the run's seed (masking, dropout)
  double loss = 0.0;              // the loss of the last step (for the log)
  std::int64_t tokens = 0;        // tokens trained on so far
  // A decay re-planned by trainer_options::fit_decay_to_budget: from step
  // decay_start to step decay_end, where the run then ends (0, 0: the
  // options' schedule and step count).
  std::int64_t decay_start = 0;
  std::int64_t decay_end = 0;
  friend bool operator==(const train_state&, const train_state&) = default;
};

struct checkpoint_options {
  int keep_last = 3;  // complete checkpoints kept (older ones are removed after a new one is in place)
  // Test hook: called after each stage of the write ("model", "optimizer",
  // "state", "renamed"); a test kills the process there.
  std::function<void(const char* stage)> on_stage;
};

namespace detail {

inline void fsync_path(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) raise<io_error>(p.string(), ": cannot open to flush it to disk: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) raise<io_error>(p.string(), ": flushing to disk failed: ", std::strerror(err));
}

inline std::string step_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

// The complete checkpoints in `dir`, oldest first.
inline std::vector<std::filesystem::path> checkpoints_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.size() == 13) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string state_json(const train_state& s) {
  nlohmann::json j = {{"format", "autodidact-train-state"}, {"format_version", 1},
                      {"step", s.step},         {"data_epoch", s.data_epoch},
                      {"data_windows", s.data_windows}, {"seed", s.seed},
                      {"loss", s.loss},         {"tokens", s.tokens},
                      {"decay_start", s.decay_start}, {"decay_end", s.decay_end}};
  return ::autodidact::detail::dump_json(j);
}

// Reads and checks a state.json.
inline train_state read_state(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) raise<io_error>(file.string(), ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = ::autodidact::detail::try_parse_json(text.str());
  if (!parsed.ok) raise<format_error>(file.string(), ": not valid JSON: ", parsed.message);
  const nlohmann::json j = std::move(parsed.value);
  require<format_error>(j.is_object(), file.string(), ": expected a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.contains(name)) raise<format_error>(file.string(), ": missing field \"", name, "\"");
    return j[name];
  };
  require<format_error>(field("format") == "autodidact-train-state", file.string(),
                        ": not an autodidact training state");
  // Each field's JSON type is checked before it is read (no nlohmann
  // exception, so this also works with -fno-exceptions).
  auto integer = [&](const char* name, bool non_negative) -> const nlohmann::json& {
    const nlohmann::json& v = field(name);
    if (!v.is_number_integer() || (non_negative && !v.is_number_unsigned() && v.get<std::int64_t>() < 0)) {
      raise<format_error>(file.string(), ": field \"", name, "\" has the wrong type: expected ",
                          non_negative ? "a non-negative integer" : "an integer", ", found ",
                          ::autodidact::detail::dump_json(v));
    }
    return v;
  };
  train_state s;
  s.step = integer("step", false).get<std::int64_t>();
  s.data_epoch = integer("data_epoch", true).get<std::uint64_t>();
  s.data_windows = integer("data_windows", true).get<std::uint64_t>();
  s.seed = integer("seed", true).get<std::uint64_t>();
  if (!field("loss").is_number()) {
    raise<format_error>(file.string(), ": field \"loss\" has the wrong type: expected a number, found ",
                        ::autodidact::detail::dump_json(field("loss")));
  }
  s.loss = field("loss").get<double>();
  s.tokens = integer("tokens", false).get<std::int64_t>();
  // Optional (written since the decay could be re-planned): absent means 0.
  if (j.contains("decay_start")) s.decay_start = integer("decay_start", true).get<std::int64_t>();
  if (j.contains("decay_end")) s.decay_end = integer("decay_end", true).get<std::int64_t>();
  require<format_error>(s.decay_end == 0 || s.decay_end > s.decay_start,
                        file.string(), ": decay_start = ", s.decay_start, " and decay_end = ", s.decay_end,
                        " do not describe a decay (expected decay_start < decay_end)");
  return s;
}

}  // namespace detail

// The newest complete checkpoint in `dir`, if any.
inline std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir) {
  auto all = detail::checkpoints_in(dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

// Writes the checkpoint of `state.step` (see the top). On failure (a full
// disk, a write error) raises io_error saying so; the earlier checkpoints
// are untouched and the temporary folder is removed.
template <class Model, class T>
std::filesystem::path save_checkpoint(const std::filesystem::path& dir, const Model& model,
                                      const optim::adamw<T>& optimizer, const train_state& state,
                                      const checkpoint_options& options = {}) {
  namespace fs = std::filesystem;
  require(options.keep_last >= 1, "train::save_checkpoint: keep_last = ", options.keep_last, " must be at least 1");
  const fs::path final_path = dir / detail::step_name(state.step);
  const fs::path tmp = dir / ("." + detail::step_name(state.step) + ".tmp");
  auto stage = [&](const char* s) {
    if (options.on_stage) options.on_stage(s);
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) raise<io_error>(dir.string(), ": cannot create the checkpoint folder: ", ec.message());
  for (const auto& e : fs::directory_iterator(dir)) {  // leftovers of an interrupted save
    const std::string name = e.path().filename().string();
    if (name.size() > 5 && name[0] == '.' && name.rfind(".tmp") == name.size() - 4) fs::remove_all(e.path(), ec);
  }
  const auto previous = latest_checkpoint(dir);
  // Any failure below (an io_error of ours, a std::filesystem_error, a
  // full disk) removes the temporary folder and says the previous
  // checkpoint is intact. Without exceptions an error goes straight to the
  // handler, which does not return: the temporary folder stays, and the
  // next save removes it as a leftover.
#if AUTODIDACT_EXCEPTIONS
  try {
#endif
    fs::create_directory(tmp);
    io::save_checkpoint(tmp / "model.safetensors", model);
    detail::fsync_path(tmp / "model.safetensors");
    stage("model");
    auto& opt = const_cast<optim::adamw<T>&>(optimizer);  // moments are only read
    const auto n = static_cast<std::int64_t>(opt.first_moment().size());
    const std::vector<io::tensor_ref> refs = {
        io::tensor_ref::of<T>("m", {n}, std::span<const T>(opt.first_moment())),
        io::tensor_ref::of<T>("v", {n}, std::span<const T>(opt.second_moment()))};
    io::write_safetensors(tmp / "optimizer.safetensors", refs,
                          {{"format", "autodidact-adamw"}, {"adamw_steps", std::to_string(opt.steps())}});
    detail::fsync_path(tmp / "optimizer.safetensors");
    stage("optimizer");
    {
      std::ofstream out(tmp / "state.json", std::ios::trunc);
      out << detail::state_json(state) << '\n';
      out.flush();
      if (!out) raise<io_error>((tmp / "state.json").string(), ": write failed");
    }
    detail::fsync_path(tmp / "state.json");
    detail::fsync_path(tmp);
    stage("state");
    if (fs::exists(final_path)) fs::remove_all(final_path);  // the same step saved again
    fs::rename(tmp, final_path);
    detail::fsync_path(dir);
    stage("renamed");
#if AUTODIDACT_EXCEPTIONS
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    raise<io_error>("train::save_checkpoint: the checkpoint of step ", state.step, " was not written (", e.what(),
                    "); ",
                    previous ? "the previous checkpoint " + previous->string() + " is intact"
                             : std::string("there is no earlier checkpoint"));
  }
#endif
  auto all = detail::checkpoints_in(dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(options.keep_last) < all.size(); ++i) fs::remove_all(all[i], ec);
  return final_path;
}

// Loads a checkpoint folder into `model` and `optimizer` (sizes and
// configs checked) and returns its train_state.
template <class Model, class T>
train_state load_checkpoint(const std::filesystem::path& path, Model& model, optim::adamw<T>& optimizer) {
  io::load_checkpoint(path / "model.safetensors", model);
  const auto file = io::safetensors_file::open(path / "optimizer.safetensors");
  const auto& meta = file.metadata();
  auto format = meta.find("format");
  require<format_error>(format != meta.end() && format->second == "autodidact-adamw", file.source(),
                        ": not an autodidact optimizer state (metadata \"format\" should be \"autodidact-adamw\")");
  const auto n = static_cast<std::int64_t>(optimizer.first_moment().size());
  const std::vector<std::int64_t> shape{n};
  file.read_into("m", optimizer.first_moment(), std::span<const std::int64_t>(shape));
  file.read_into("v", optimizer.second_moment(), std::span<const std::int64_t>(shape));
  auto steps = meta.find("adamw_steps");
  require<format_error>(steps != meta.end(), file.source(), ": no \"adamw_steps\" in the metadata");
  std::int64_t adamw_steps = 0;
  const std::string& text = steps->second;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), adamw_steps);
  if (ec != std::errc{} || end != text.data() + text.size() || adamw_steps < 0) {
    raise<format_error>(file.source(), ": metadata \"adamw_steps\" = \"", text, "\" is not a non-negative integer");
  }
  optimizer.set_steps(adamw_steps);

  return detail::read_state(path / "state.json");
}

}  // namespace autodidact::train
