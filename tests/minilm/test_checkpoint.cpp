// The real all-MiniLM-L6-v2 checkpoint: its safetensors file passes every
// check (mapped, zero-copy views), load_pretrained finds BertModel names and
// reports the unused position_ids buffer, a model type with another config
// is refused with every difference listed, our own format round-trips
// bit-exactly (with our names and with Hugging Face names), and
// tools/cpp/hf_config_to_cpp prints minilm_l6's fields.

#include <catch2/catch.hpp>  // for TEST_CASE, CHECK, REQUIRE

#include <array>       // for std::array
#include <cstdio>      // for popen, pclose, fread
#include <filesystem>  // for std::filesystem::path, temp_directory_path
#include <fstream>     // for std::ofstream
#include <sys/wait.h>  // for WEXITSTATUS
#include <memory>      // for std::make_unique
#include <string>      // for std::string
#include <vector>      // for std::vector

#include <unistd.h>  // for getpid

#include "autodidact/config.hpp"              // for minilm_l6, tiny_encoder
#include "autodidact/io/checkpoint.hpp"       // for load_pretrained, save_checkpoint, load_checkpoint
#include "autodidact/io/hf_config.hpp"        // for load_hf_config, config_declaration
#include "autodidact/io/safetensors.hpp"      // for safetensors_file
#include "autodidact/models/encoder.hpp"      // for models::encoder
#include "../support/scratch.hpp"

namespace minilm_checkpoint_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace io = autodidact::io;
namespace models = autodidact::models;
using autodidact::f32;
using autodidact::minilm_l6;

namespace {
const std::filesystem::path minilm_dir = AUTODIDACT_MINILM_DIR;
using minilm_model = models::encoder<minilm_l6, f32, models::inference_only>;

std::filesystem::path scratch(const std::string& name) {
  return autodidact_test::scratch_folder("autodidact_minilm_test") / name;
}
}  // namespace

TEST_CASE("minilm: the checkpoint is a valid safetensors file, mapped without a copy", "[minilm]") {
  const auto file = io::safetensors_file::open(minilm_dir / "model.safetensors");
  CHECK(file.is_mapped());
  CHECK(file.size() == 104);
  CHECK(file.contains("embeddings.position_ids"));
  const auto w = file.view<float>("embeddings.word_embeddings.weight");
  CHECK(w.size() == 30522u * 384u);
  CHECK(file.read<float>("embeddings.word_embeddings.weight")[12345] == w[12345]);
  CHECK_FALSE(file.try_view<float>("embeddings.position_ids").has_value());  // I64
  CHECK_THROWS_AS(file.view<float>("embeddings.position_ids"), autodidact::format_error);
  // Reading instead of mapping gives the same bytes.
  const auto read = io::safetensors_file::open(minilm_dir / "model.safetensors", io::load_mode::read);
  CHECK_FALSE(read.is_mapped());
  const auto r = read.view<float>("encoder.layer.5.output.dense.weight");
  const auto m = file.view<float>("encoder.layer.5.output.dense.weight");
  CHECK(std::equal(r.begin(), r.end(), m.begin(), m.end()));
}

TEST_CASE("minilm: config.json is minilm_l6, and load_pretrained loads BertModel names", "[minilm]") {
  CHECK(io::load_hf_config(minilm_dir / "config.json") == minilm_l6);
  auto model = std::make_unique<minilm_model>(1, 8);
  const io::pretrained_report report = io::load_pretrained(minilm_dir, *model);
  CHECK(report.naming == io::hf_naming::bert_model);
  CHECK(report.loaded == 103);
  CHECK(report.unused == std::vector<std::string>{"embeddings.position_ids"});
  const auto file = io::safetensors_file::open(minilm_dir / "model.safetensors");
  const auto q = file.view<float>("encoder.layer.2.attention.self.key.weight");
  const float* ours = model->parameters().data() + minilm_model::layout.blocks[2][autodidact::models::block_module::qkv_weight] + 384 * 384;
  CHECK(std::equal(q.begin(), q.end(), ours));
}

TEST_CASE("minilm: a model type with another config is refused, listing every difference", "[minilm]") {
  auto tiny = std::make_unique<models::encoder<autodidact::tiny_encoder, f32, models::inference_only>>(1, 8);
  try {
    io::load_pretrained(minilm_dir, *tiny);
    FAIL("expected config_mismatch");
  } catch (const autodidact::config_mismatch& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("config.json: the file's model config differs from the model type's in 6 fields") !=
          std::string::npos);
    for (const char* part : {"vocab: expected 97, got 30522", "max_positions: expected 40, got 512",
                             "d_model: expected 80, got 384", "heads: expected 5, got 12",
                             "d_ff: expected 136, got 1536", "layers: expected 3, got 6"}) {
      CHECK(what.find(part) != std::string::npos);
    }
  }
}

TEST_CASE("minilm: our checkpoint format round-trips the real weights exactly", "[minilm]") {
  auto model = std::make_unique<minilm_model>(1, 8);
  io::load_pretrained(minilm_dir, *model);
  for (bool hf : {false, true}) {
    INFO((hf ? "Hugging Face names" : "our names"));
    const auto path = scratch(hf ? "minilm_hf.safetensors" : "minilm_ours.safetensors");
    io::checkpoint_options options;
    if (hf) options.hf_names = io::hf_naming::bert_model;
    options.metadata["source"] = "all-MiniLM-L6-v2";
    io::save_checkpoint(path, *model, options);
    const auto file = io::safetensors_file::open(path);
    CHECK(file.metadata().at("format") == "autodidact");
    CHECK(file.metadata().at("config.d_model") == "384");
    CHECK(file.metadata().at("source") == "all-MiniLM-L6-v2");
    CHECK(io::checkpoint_config(file) == minilm_l6);
    auto again = std::make_unique<minilm_model>(1, 8);
    io::load_checkpoint(file, *again);
    // Every parameter (the MLM/NSP heads were never loaded: zero in both).
    const auto a = model->parameters(), b = again->parameters();
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));

    auto tiny = std::make_unique<models::encoder<autodidact::tiny_encoder, f32, models::inference_only>>(1, 8);
    CHECK_THROWS_AS(io::load_checkpoint(file, *tiny), autodidact::config_mismatch);
    std::filesystem::remove(path);
  }
}

TEST_CASE("minilm: hf_config_to_cpp prints minilm_l6's declaration", "[minilm]") {
  const std::string command =
      std::string(AUTODIDACT_HF_CONFIG_TO_CPP) + " '" + (minilm_dir / "config.json").string() + "' all_minilm_l6_v2";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  CHECK(::pclose(pipe) == 0);
  INFO(output);
  const std::string expected = io::config_declaration(minilm_l6, "all_minilm_l6_v2");
  CHECK(output.find(expected) != std::string::npos);
  CHECK(expected.find(".vocab = 30522,") != std::string::npos);
  CHECK(expected.find(".layer_norm_eps = 1e-12,") != std::string::npos);
  CHECK(expected.find(".gelu = autodidact::gelu_kind::erf,") != std::string::npos);

  // An unsupported config: exit status 1 and the reason on stderr.
  const auto bad = scratch("roberta_config.json");
  {
    std::ofstream out(bad);
    out << R"({"model_type": "roberta", "vocab_size": 50265})";
  }
  const std::string bad_command = std::string(AUTODIDACT_HF_CONFIG_TO_CPP) + " '" + bad.string() + "' 2>&1";
  FILE* p2 = ::popen(bad_command.c_str(), "r");
  REQUIRE(p2 != nullptr);
  std::string err;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), p2)) > 0) err.append(buffer.data(), n);
  CHECK(WEXITSTATUS(::pclose(p2)) == 1);
  CHECK(err.find("model_type \"roberta\" is not supported") != std::string::npos);
}

}  // namespace minilm_checkpoint_tests
