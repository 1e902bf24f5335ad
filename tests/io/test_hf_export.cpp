// Export to Hugging Face (io/hf_export.hpp): the folder's config.json parses
// back into the model's config, its model.safetensors (metadata {"format":
// "pt"}, Hugging Face names) loads back with io::load_pretrained into the
// same parameters, for BERT with and without a pooler, ELECTRA and GPT-2;
// vocab.txt is the tokenizer's, and with .tokenizer the tokenizer.json
// reads back to a tokenizer that encodes as the original does.
// (tools/check_hf_export.py checks, with transformers, that such a folder
// reproduces our loss and our token ids.)
#include <catch2/catch.hpp>

#include <autodidact/io/hf_config.hpp>
#include <autodidact/io/hf_export.hpp>
#include <autodidact/models/decoder.hpp>
#include <autodidact/models/encoder.hpp>
#include <autodidact/tokenizers/tokenizer_json.hpp>
#include <autodidact/tokenizers/wordpiece.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include "../support/scratch.hpp"

namespace io_hf_export_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = autodidact_test::scratch_folder("autodidact_hf_export") / name;
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

TEST_CASE("export_hf with a tokenizer writes tokenizer.json and tokenizer_config.json that read back to it", "[io]") {
  // Options away from the defaults, so that each must travel through the file.
  tokenizers::wordpiece_options wo;
  wo.normalizer.lowercase = false;
  wo.normalizer.strip_accents = true;
  wo.max_input_chars_per_word = 12;
  wo.decoder_cleanup = false;
  auto tok = tokenizers::wordpiece_vocab_from_string(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nThe\nlady\n##s\nwalk\n##ed\nto\ntown\n.\n,\ncafe\n", "v.txt", wo);
  tokenizers::encode_options defaults;
  defaults.truncation = tokenizers::truncation_options{.max_length = 7,
                                                       .strategy = tokenizers::truncation_strategy::only_first};
  tok.set_default_options(defaults);
  auto model = std::make_unique<models::encoder<bert_mlm, f32>>(1, 4, models::init_options{.seed = 3});
  const fs::path dir = scratch("with_tokenizer");
  io::export_hf(dir, *model, {.tokenizer = &tok});
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json"})
    CHECK(fs::exists(dir / f));

  const auto back = tokenizers::load_wordpiece_tokenizer_json((dir / "tokenizer.json").string());
  CHECK(back.model().options().normalizer.lowercase == false);
  CHECK(back.model().options().normalizer.strip_accents == std::optional<bool>(true));
  CHECK(back.model().options().max_input_chars_per_word == 12u);
  CHECK(back.model().options().decoder_cleanup == false);
  CHECK(back.vocab().size() == tok.vocab().size());
  CHECK(back.added_tokens().size() == tok.added_tokens().size());
  REQUIRE(back.default_options().truncation.has_value());
  CHECK(back.default_options().truncation->max_length == 7u);
  CHECK(back.default_options().truncation->strategy == tokenizers::truncation_strategy::only_first);
  for (const char* text : {"The lady walked to town.", "the ladys, walked", "café", "a [MASK] word",
                           "averyveryverylongword walk"}) {
    INFO(text);
    const auto want = tok.encode(text, tok.default_options());
    const auto got = back.encode(text, back.default_options());
    CHECK(got.ids == want.ids);
    CHECK(got.type_ids == want.type_ids);
    const auto want_pair = tok.encode(text, "to town", tok.default_options());
    const auto got_pair = back.encode(text, "to town", back.default_options());
    CHECK(got_pair.ids == want_pair.ids);
    CHECK(got_pair.type_ids == want_pair.type_ids);
  }

  std::ifstream in(dir / "tokenizer_config.json");
  std::stringstream text;
  text << in.rdbuf();
  for (const char* field : {"\"do_lower_case\":false", "\"strip_accents\":true", "\"mask_token\":\"[MASK]\"",
                            "\"model_max_length\":40", "\"tokenizer_class\":\"BertTokenizer\""})
    CHECK(text.str().find(field) != std::string::npos);

  // .vocab may only repeat the tokenizer's own vocabulary; the refusal
  // comes before anything is written.
  const auto other = tokenizers::wordpiece_vocab_from_string("[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n", "w.txt");
  const fs::path refused = scratch("refused");
  CHECK_THROWS_WITH(io::export_hf(refused, *model, {.vocab = &other.vocab(), .tokenizer = &tok}),
                    Catch::Contains(".vocab is not the tokenizer's vocabulary"));
  CHECK_FALSE(fs::exists(refused));
  CHECK_NOTHROW(io::export_hf(dir, *model, {.vocab = &tok.vocab(), .tokenizer = &tok}));
}

}  // namespace io_hf_export_tests
