// Misuse of the file loaders (issue [robustness] item 2): every broken file
// gets the exact error type and a message naming the file and the offending
// tensor or field. Tiny models only, files written to a scratch folder.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>  // for getpid

#include "autodidact/config.hpp"
#include "autodidact/core/error.hpp"
#include "autodidact/io/checkpoint.hpp"
#include "autodidact/io/hf_config.hpp"
#include "autodidact/io/safetensors.hpp"
#include "autodidact/models/decoder.hpp"
#include "autodidact/models/encoder.hpp"
#include "../support/scratch.hpp"

namespace io_badinput_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace io = autodidact::io;
namespace models = autodidact::models;
using autodidact::f32;
using Catch::Contains;

namespace {

using enc_t = models::encoder<autodidact::tiny_encoder, f32, models::inference_only>;

std::filesystem::path scratch(const std::string& name) {
  return autodidact_test::scratch_folder("autodidact_io_badinput") / name;
}

// A checkpoint of a tiny encoder with `value` at element `at` of `tensor`.
std::filesystem::path checkpoint_with(const std::string& file, const std::string& tensor, std::size_t at, float value) {
  auto e = std::make_unique<enc_t>(1, 4);
  const auto good = scratch("good.safetensors");
  io::save_checkpoint(good, *e);
  const auto f = io::safetensors_file::open(good);
  std::vector<io::tensor_entry> entries;
  for (const auto& name : f.names()) {
    std::vector<float> v = f.read<float>(name);
    if (name == tensor) v[at] = value;
    entries.push_back(io::tensor_entry::from(name, f.at(name).shape, v));
  }
  const std::map<std::string, std::string> meta(f.metadata().begin(), f.metadata().end());
  const auto bad = scratch(file);
  io::write_safetensors(bad, entries, meta);
  return bad;
}

}  // namespace

TEST_CASE("io_badinput: a NaN or infinite weight is a format_error naming file, tensor and element", "[badinput]") {
  auto model = std::make_unique<enc_t>(1, 4);
  const auto nan_file = checkpoint_with("nan.safetensors", "blocks.1.ff2.weight", 7,
                                        std::numeric_limits<float>::quiet_NaN());
  CHECK_THROWS_AS(io::load_checkpoint(nan_file, *model), autodidact::format_error);
  CHECK_THROWS_WITH(io::load_checkpoint(nan_file, *model),
                    Contains("nan.safetensors: tensor 'blocks.1.ff2.weight'") && Contains("element 7") &&
                        Contains("is NaN") && Contains("load_options::allow_non_finite"));
  const auto inf_file = checkpoint_with("inf.safetensors", "token_embedding", 3,
                                        -std::numeric_limits<float>::infinity());
  CHECK_THROWS_AS(io::load_checkpoint(inf_file, *model), autodidact::format_error);
  CHECK_THROWS_WITH(io::load_checkpoint(inf_file, *model),
                    Contains("inf.safetensors: tensor 'token_embedding'") && Contains("-inf"));
  // Allowed on request: it loads, and the NaN is there.
  io::load_checkpoint(nan_file, *model, io::load_options{.allow_non_finite = true});
  // ... and a forward asked to check names the block it reaches first.
  model->set_check_finite(true);
  std::vector<std::int32_t> ids{2, 5, 7, 3};
  CHECK_THROWS_AS(model->forward({ids, {}, {}, 1, 4}), autodidact::numeric_error);
  CHECK_THROWS_WITH(model->forward({ids, {}, {}, 1, 4}), Contains("the output of block 1 (of 3"));
}

TEST_CASE("io_badinput: malformed safetensors headers and config.json are format_errors naming the file",
          "[badinput]") {
  // A header that is not JSON (parsed without exceptions inside, so the same
  // message reaches a -fno-exceptions handler).
  std::string header = "{\"w\": [1, 2";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  const auto path = scratch("broken_header.safetensors");
  std::ofstream(path, std::ios::binary) << bytes;
  CHECK_THROWS_AS(io::safetensors_file::open(path), autodidact::format_error);
  CHECK_THROWS_WITH(io::safetensors_file::open(path),
                    Contains("broken_header.safetensors") && Contains("the header is not valid JSON") &&
                        Contains("parse error at line 1, column 12"));
  // A number beyond a double's range (nlohmann's out_of_range 406).
  CHECK_THROWS_AS(io::hf_config_from_string(R"({"model_type": "bert", "hidden_size": 1e999})", "big.json"),
                  autodidact::format_error);
  CHECK_THROWS_WITH(io::hf_config_from_string(R"({"model_type": "bert", "hidden_size": 1e999})", "big.json"),
                    Contains("big.json: not valid JSON") && Contains("number overflow parsing '1e999'"));
  // A size of the wrong type names the field; a missing one too.
  const std::string typed = R"({"model_type": "bert", "vocab_size": 97, "max_position_embeddings": 40,
    "hidden_size": "80", "num_attention_heads": 5, "intermediate_size": 136, "num_hidden_layers": 3,
    "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"})";
  CHECK_THROWS_AS(io::hf_config_from_string(typed, "typed.json"), autodidact::format_error);
  CHECK_THROWS_WITH(io::hf_config_from_string(typed, "typed.json"), Contains("typed.json") && Contains("hidden_size"));
  CHECK_THROWS_AS(io::hf_config_from_string(R"({"model_type": "bert"})", "short.json"), autodidact::format_error);
  CHECK_THROWS_WITH(io::hf_config_from_string(R"({"model_type": "bert"})", "short.json"),
                    Contains("short.json: missing field \"vocab_size\""));
}

TEST_CASE("io_badinput: a missing model folder is an io_error, another model's checkpoint a config_mismatch",
          "[badinput]") {
  auto model = std::make_unique<enc_t>(1, 4);
  const auto missing = scratch("no_such_folder");
  CHECK_THROWS_AS(io::load_pretrained(missing, *model), autodidact::io_error);
  CHECK_THROWS_WITH(io::load_pretrained(missing, *model), Contains("no_such_folder"));
  auto other = std::make_unique<models::decoder<autodidact::tiny_decoder, f32, models::inference_only>>(1, 4);
  const auto path = scratch("other.safetensors");
  io::save_checkpoint(path, *other);
  CHECK_THROWS_AS(io::load_checkpoint(path, *model), autodidact::config_mismatch);
  CHECK_THROWS_WITH(io::load_checkpoint(path, *model), Contains("other.safetensors") && Contains("d_model"));
}

}  // namespace io_badinput_tests
