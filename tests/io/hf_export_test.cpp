// Export to Hugging Face (io/hf_export.hpp): the folder's config.json parses
// back into the model's config, its model.safetensors (metadata {"format":
// "pt"}, Hugging Face names) loads back with io::load_pretrained into the
// same parameters, for BERT with and without a pooler, ELECTRA and GPT-2;
// vocab.txt is the tokenizer's. (tools/check_hf_export.py checks, with
// transformers, that such a folder reproduces our loss.)
#include <catch2/catch.hpp>

#include <autodidact/io/hf_config.hpp>
#include <autodidact/io/hf_export.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/tokenizers/wordpiece.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

using namespace autodidact;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("autodidact_hf_export_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  return dir;
}

template <class Model>
void round_trip(const std::string& name, const std::string& architecture, const tokenizers::vocabulary* vocab = nullptr) {
  INFO(name);
  auto a = std::make_unique<Model>(1, 4, models::init_options{.seed = 21});
  const fs::path dir = scratch(name);
  io::export_hf(dir, *a, {.vocab = vocab});
  CHECK(io::load_hf_config(dir / "config.json") == Model::config);
  std::ifstream in(dir / "config.json");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("\"" + architecture + "\"") != std::string::npos);
  const auto file = io::safetensors_file::open(dir / "model.safetensors");
  CHECK(file.metadata().size() == 1u);
  CHECK(file.metadata().at("format") == "pt");
  auto b = std::make_unique<Model>(1, 4, models::init_options{.zeros = true});
  const auto report = io::load_pretrained(dir, *b);
  CHECK(report.unused.empty());
  CHECK(std::equal(a->parameters().begin(), a->parameters().end(), b->parameters().begin()));
}

constexpr model_config bert_mlm = [] {
  model_config c = tiny_encoder;
  c.pooler = false;
  return c;
}();
constexpr model_config electra = [] {
  model_config c = tiny_encoder;
  c.pooler = false;
  c.embedding_size = 24;
  return c;
}();

}  // namespace

TEST_CASE("an exported Hugging Face folder reads back: config, names, every parameter", "[io]") {
  round_trip<models::encoder<tiny_encoder, f32>>("bert", "BertForPreTraining");
  round_trip<models::encoder<bert_mlm, f32>>("bert_mlm", "BertForMaskedLM");
  round_trip<models::encoder<electra, f32>>("electra", "ElectraForMaskedLM");
  round_trip<models::decoder<tiny_decoder, f32>>("gpt2", "GPT2LMHeadModel");
  const auto tok = tokenizers::wordpiece_vocab_from_string("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n", "v.txt");
  round_trip<models::encoder<bert_mlm, f32>>("with_vocab", "BertForMaskedLM", &tok.vocab());
  std::ifstream in(scratch("unused") .parent_path() / "with_vocab" / "vocab.txt");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n");
}
