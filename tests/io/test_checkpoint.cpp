// Hugging Face config.json parsing, config differences, the C++
// declaration, and our checkpoint format on tiny models (no download).

#include <catch2/catch.hpp>  // for TEST_CASE, CHECK, REQUIRE

#include <algorithm>   // for std::any_of, std::find_if, std::equal
#include <filesystem>  // for std::filesystem::path, temp_directory_path
#include <fstream>     // for std::ofstream
#include <limits>      // for std::numeric_limits
#include <map>         // for std::map
#include <memory>      // for std::make_unique
#include <string>      // for std::string
#include <vector>      // for std::vector

#include <unistd.h>  // for getpid

#include <nlohmann/json.hpp>  // for nlohmann::json

#include "autodidact/config.hpp"          // for tiny_encoder, tiny_decoder, minilm_l6, gpt2_small
#include "autodidact/io/checkpoint.hpp"   // for save_checkpoint, load_checkpoint, load_pretrained
#include "autodidact/io/hf_config.hpp"    // for parse_hf_config, config_differences, config_declaration
#include "autodidact/models/decoder.hpp"  // for models::decoder
#include "autodidact/models/encoder.hpp"  // for models::encoder
#include "../support/scratch.hpp"

namespace io_checkpoint_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace io = autodidact::io;
namespace models = autodidact::models;
using autodidact::f32;
using autodidact::model_config;
using nlohmann::json;

namespace {

std::filesystem::path scratch(const std::string& name) {
  return autodidact_test::scratch_folder("autodidact_ckpt_test") / name;
}

bool contains(const std::string& what, const std::string& part) { return what.find(part) != std::string::npos; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const autodidact::error& e) {
    return e.what();
  }
  return "(no error)";
}

json bert_json(const model_config& c) {
  return {{"model_type", "bert"}, {"vocab_size", c.vocab}, {"max_position_embeddings", c.max_positions},
          {"hidden_size", c.d_model}, {"num_attention_heads", c.heads}, {"intermediate_size", c.d_ff},
          {"num_hidden_layers", c.layers}, {"type_vocab_size", c.type_vocab}, {"layer_norm_eps", c.layer_norm_eps},
          {"hidden_act", "gelu"}, {"hidden_dropout_prob", 0.1}};
}

// Fills the arena with distinct values.
template <class Model>
void fill(Model& m) {
  auto p = m.parameters();
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(i % 1013) * 0.001f - 0.5f;
}

}  // namespace

TEST_CASE("config.json: BERT and GPT-2 parse into the presets", "[io]") {
  CHECK(io::parse_hf_config(bert_json(autodidact::minilm_l6), "c.json") == autodidact::minilm_l6);
  CHECK(io::parse_hf_config(bert_json(autodidact::tiny_encoder), "c.json") == autodidact::tiny_encoder);
  const json gpt2 = {{"model_type", "gpt2"}, {"vocab_size", 50257}, {"n_positions", 1024}, {"n_embd", 768},
                     {"n_head", 12}, {"n_inner", nullptr}, {"n_layer", 12}, {"layer_norm_epsilon", 1e-5},
                     {"activation_function", "gelu_new"}};
  CHECK(io::parse_hf_config(gpt2, "g.json") == autodidact::gpt2_small);
}

namespace {
// An ELECTRA generator: embeddings 20 wide projected into 48-wide blocks.
constexpr model_config electra_narrow{.vocab = 61, .max_positions = 24, .d_model = 48, .heads = 3, .d_ff = 72,
                                      .layers = 2, .type_vocab = 2, .layer_norm_eps = 1e-12,
                                      .gelu = autodidact::gelu_kind::erf, .norm = autodidact::norm_placement::post,
                                      .tied_lm_head = true, .pooler = false, .embedding_size = 20};
}  // namespace

TEST_CASE("config.json: ELECTRA parses with its embedding size and no pooler", "[io]") {
  json j = bert_json(electra_narrow);
  j["model_type"] = "electra";
  j["embedding_size"] = 20;
  CHECK(io::parse_hf_config(j, "e.json") == electra_narrow);
  // embedding_size = hidden_size is the unfactorised model (0).
  j["embedding_size"] = 48;
  model_config plain = electra_narrow;
  plain.embedding_size = 0;
  CHECK(io::parse_hf_config(j, "e.json") == plain);
  j.erase("embedding_size");  // ElectraConfig's default
  CHECK(io::parse_hf_config(j, "e.json").embedding_size == 128);
  j["embedding_size"] = 0;
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "e.json"); }), "embedding_size is 0, expected a positive"));
}

TEST_CASE("config.json: unsupported or malformed configs are format errors saying why", "[io]") {
  json j = bert_json(autodidact::minilm_l6);
  j["model_type"] = "roberta";
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "c.json: model_type \"roberta\" is not supported"));
  j = bert_json(autodidact::minilm_l6);
  j["position_embedding_type"] = "relative_key";
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "position_embedding_type \"relative_key\""));
  j = bert_json(autodidact::minilm_l6);
  j["hidden_act"] = "relu";
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "field \"hidden_act\" is \"relu\""));
  j = bert_json(autodidact::minilm_l6);
  j.erase("hidden_size");
  CHECK(error_of([&] { io::parse_hf_config(j, "c.json"); }) == "c.json: missing field \"hidden_size\"");
  j = bert_json(autodidact::minilm_l6);
  j["num_hidden_layers"] = "six";
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }),
                 "field \"num_hidden_layers\": expected a non-negative integer, found \"six\""));
  j = bert_json(autodidact::minilm_l6);
  j["num_attention_heads"] = 7;
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "384 is not a multiple of the 7 attention heads"));
  const auto garbage = scratch("garbage.json");
  std::ofstream(garbage) << "{ not json";
  CHECK(contains(error_of([&] { io::load_hf_config(garbage); }), "garbage.json: not valid JSON"));
  CHECK(contains(error_of([&] { io::load_hf_config(scratch("absent.json")); }), "cannot open"));
}

TEST_CASE("config differences list every field; the declaration reads back", "[io]") {
  model_config other = autodidact::minilm_l6;
  other.layers = 12;
  other.layer_norm_eps = 1e-5;
  other.gelu = autodidact::gelu_kind::tanh;
  CHECK(io::config_differences(autodidact::minilm_l6, autodidact::minilm_l6).empty());
  CHECK(io::config_differences(autodidact::minilm_l6, other) ==
        std::vector<std::string>{"layers: expected 6, got 12", "layer_norm_eps: expected 1e-12, got 1e-05",
                                 "gelu: expected erf, got tanh"});
  const std::string message = error_of([&] { io::check_config_matches(autodidact::minilm_l6, other, "x.safetensors"); });
  CHECK(message ==
        "x.safetensors: the file's model config differs from the model type's in 3 fields (expected = the model "
        "type, got = the file):\n  layers: expected 6, got 12\n  layer_norm_eps: expected 1e-12, got 1e-05\n"
        "  gelu: expected erf, got tanh");
  CHECK(io::config_from_metadata(io::config_to_metadata(other), "m") == other);
  CHECK(io::config_declaration(autodidact::tiny_decoder, "tiny") ==
        "constexpr autodidact::model_config tiny{\n    .vocab = 101,\n    .max_positions = 48,\n    .d_model = 64,\n"
        "    .heads = 4,\n    .d_ff = 256,\n    .layers = 2,\n    .type_vocab = 0,\n    .layer_norm_eps = 1e-05,\n"
        "    .gelu = autodidact::gelu_kind::tanh,\n    .norm = autodidact::norm_placement::pre,\n"
        "    .tied_lm_head = true,\n    .pooler = false,\n    .attention = autodidact::attention_kind::causal,\n"
        "    .embedding_norm = false,\n    .final_norm = true,\n    .embedding_size = 0};\n");
  // Checkpoints written before embedding_size existed have no such field: 0.
  auto old = io::config_to_metadata(autodidact::tiny_decoder);
  old.erase("config.embedding_size");
  CHECK(io::config_from_metadata(old, "old") == autodidact::tiny_decoder);
  old["config.embedding_size"] = "-3";
  CHECK(contains(error_of([&] { io::config_from_metadata(old, "old"); }), "expected 0 (= d_model) or a positive width"));
  // A format_version 1 checkpoint has no attention, embedding_norm or
  // final_norm: they follow from norm.
  auto v1 = io::config_to_metadata(autodidact::tiny_decoder);
  v1.erase("config.attention");
  v1.erase("config.embedding_norm");
  v1.erase("config.final_norm");
  CHECK(io::config_from_metadata(v1, "v1", 1) == autodidact::tiny_decoder);
  auto v1_bert = io::config_to_metadata(autodidact::minilm_l6);
  v1_bert.erase("config.attention");
  CHECK(io::config_from_metadata(v1_bert, "v1", 1) == autodidact::minilm_l6);
  CHECK(contains(error_of([&] { io::config_from_metadata(v1, "v2"); }), "no \"config.attention\""));
  auto meta = io::config_to_metadata(other);
  meta["config.heads"] = "twelve";
  CHECK(contains(error_of([&] { io::config_from_metadata(meta, "m"); }), "\"config.heads\" = \"twelve\": expected an integer"));
  meta.erase("config.heads");
  CHECK(contains(error_of([&] { io::config_from_metadata(meta, "m"); }), "no \"config.heads\""));
}

TEST_CASE("our checkpoint format round-trips encoders and decoders, with either names", "[io]") {
  using enc = models::encoder<autodidact::tiny_encoder, f32>;
  using dec = models::decoder<autodidact::tiny_decoder, f32>;
  auto e = std::make_unique<enc>(2, 8);
  auto d = std::make_unique<dec>(2, 8);
  fill(*e);
  fill(*d);
  const auto pe = scratch("enc.safetensors"), pd = scratch("dec.safetensors"), pg = scratch("dec_hf.safetensors");
  io::save_checkpoint(pe, *e);
  io::save_checkpoint(pd, *d);
  io::save_checkpoint(pg, *d, {.hf_names = io::hf_naming::gpt2_lm, .metadata = {}});
  auto e2 = std::make_unique<enc>(1, 4);
  auto d2 = std::make_unique<dec>(1, 4);
  auto d3 = std::make_unique<dec>(1, 4);
  io::load_checkpoint(pe, *e2);
  io::load_checkpoint(pd, *d2);
  io::load_checkpoint(pg, *d3);
  // Every real parameter equal (alignment padding is not saved).
  for (const auto& t : io::parameter_map<autodidact::tiny_encoder>(enc::layout)) {
    std::size_t n = 1;
    for (auto x : t.shape) n *= static_cast<std::size_t>(x);
    CHECK(std::equal(e->parameters().begin() + std::ptrdiff_t(t.offset), e->parameters().begin() + std::ptrdiff_t(t.offset + n),
                     e2->parameters().begin() + std::ptrdiff_t(t.offset)));
  }
  CHECK(io::safetensors_file::open(pe).size() == io::parameter_map<autodidact::tiny_encoder>(enc::layout).size());
  CHECK(io::safetensors_file::open(pe).contains("blocks.2.qkv.weight"));
  CHECK(io::safetensors_file::open(pg).contains("transformer.h.1.attn.c_attn.weight"));
  // ELECTRA: saved with the generator's names, the names are detected back.
  using gen = models::encoder<electra_narrow, f32>;
  auto g = std::make_unique<gen>(1, 4, models::init_options{.seed = 3});
  const auto pgen = scratch("electra.safetensors");
  io::save_checkpoint(pgen, *g, {.hf_names = io::hf_naming::electra_generator, .metadata = {}});
  CHECK(io::detect_hf_naming<electra_narrow>(io::safetensors_file::open(pgen)) == io::hf_naming::electra_generator);
  auto g2 = std::make_unique<gen>(1, 4, models::init_options{.zeros = true});
  io::load_checkpoint(pgen, *g2);
  CHECK(std::equal(g->parameters().begin(), g->parameters().end(), g2->parameters().begin()));
  for (const auto& t : io::parameter_map<autodidact::tiny_decoder>(dec::layout)) {
    std::size_t n = 1;
    for (auto x : t.shape) n *= static_cast<std::size_t>(x);
    INFO(t.name);
    CHECK(std::equal(d->parameters().begin() + std::ptrdiff_t(t.offset), d->parameters().begin() + std::ptrdiff_t(t.offset + n),
                     d2->parameters().begin() + std::ptrdiff_t(t.offset)));
    CHECK(std::equal(d->parameters().begin() + std::ptrdiff_t(t.offset), d->parameters().begin() + std::ptrdiff_t(t.offset + n),
                     d3->parameters().begin() + std::ptrdiff_t(t.offset)));
  }
}

TEST_CASE("loading a checkpoint into another model type lists every difference", "[io]") {
  constexpr model_config wider{.vocab = 97, .max_positions = 40, .d_model = 96, .heads = 4, .d_ff = 136, .layers = 2,
                               .type_vocab = 2};
  auto e = std::make_unique<models::encoder<autodidact::tiny_encoder, f32, models::inference_only>>(1, 4);
  const auto path = scratch("tiny.safetensors");
  io::save_checkpoint(path, *e);
  auto w = std::make_unique<models::encoder<wider, f32, models::inference_only>>(1, 4);
  try {
    io::load_checkpoint(path, *w);
    FAIL("expected config_mismatch");
  } catch (const autodidact::config_mismatch& x) {
    const std::string what = x.what();
    CHECK(contains(what, path.string() + ": the file's model config differs from the model type's in 3 fields"));
    CHECK(contains(what, "d_model: expected 96, got 80"));
    CHECK(contains(what, "heads: expected 4, got 5"));
    CHECK(contains(what, "layers: expected 2, got 3"));
  }
  auto d = std::make_unique<models::decoder<autodidact::tiny_decoder, f32>>(1, 4);
  const std::string to_decoder = error_of([&] { io::load_checkpoint(path, *d); });
  CHECK(contains(to_decoder, "differs from the model type's in 14 fields"));
  CHECK(contains(to_decoder, "attention: expected causal, got bidirectional"));
  CHECK(contains(to_decoder, "final_norm: expected true, got false"));
}

TEST_CASE("bad checkpoints are refused with the file and tensor named", "[io]") {
  using enc = models::encoder<autodidact::tiny_encoder, f32, models::inference_only>;
  auto e = std::make_unique<enc>(1, 4);
  const auto plain = scratch("plain.safetensors");
  io::write_safetensors(plain, std::vector<io::tensor_entry>{io::tensor_entry::from("x", {1}, std::vector<float>{1})});
  CHECK(contains(error_of([&] { io::load_checkpoint(plain, *e); }),
                 "not an autodidact checkpoint (metadata \"format\" is absent"));
  // A checkpoint missing one tensor, and one with a wrong shape.
  const auto full = scratch("full.safetensors");
  io::save_checkpoint(full, *e);
  const auto f = io::safetensors_file::open(full);
  std::vector<io::tensor_entry> entries;
  for (const auto& name : f.names()) {
    if (name == "blocks.1.ff1.bias") continue;
    entries.push_back(io::tensor_entry::from(name, f.at(name).shape, f.read<float>(name)));
  }
  std::map<std::string, std::string> meta(f.metadata().begin(), f.metadata().end());
  const auto missing = scratch("missing.safetensors");
  io::write_safetensors(missing, entries, meta);
  CHECK(contains(error_of([&] { io::load_checkpoint(missing, *e); }),
                 "missing.safetensors: the checkpoint has no tensor 'blocks.1.ff1.bias' (expected shape [136])"));
  entries.push_back(io::tensor_entry::from("blocks.1.ff1.bias", {2, 68}, std::vector<float>(136)));
  const auto reshaped = scratch("reshaped.safetensors");
  io::write_safetensors(reshaped, entries, meta);
  CHECK(contains(error_of([&] { io::load_checkpoint(reshaped, *e); }),
                 "tensor 'blocks.1.ff1.bias': expected shape [136], the file has [2, 68]"));
  // A Hugging Face folder without safetensors weights.
  const auto dir = scratch("hf_dir");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << autodidact::detail::dump_json(bert_json(autodidact::tiny_encoder));
  std::ofstream(dir / "pytorch_model.bin") << "pickle";
  CHECK(contains(error_of([&] { io::load_pretrained(dir, *e); }), "PyTorch-pickled weights"));
}

TEST_CASE("a checkpoint with a NaN weight is refused unless allowed", "[io]") {
  using enc = models::encoder<autodidact::tiny_encoder, f32, models::inference_only>;
  auto e = std::make_unique<enc>(1, 4);
  fill(*e);
  const auto good = scratch("finite.safetensors");
  io::save_checkpoint(good, *e);
  // the same file with one NaN in blocks.0.ff1.weight
  const auto f = io::safetensors_file::open(good);
  std::vector<io::tensor_entry> entries;
  for (const auto& name : f.names()) {
    std::vector<float> v = f.read<float>(name);
    if (name == "blocks.0.ff1.weight") v[81] = std::numeric_limits<float>::quiet_NaN();  // row 1, column 1
    entries.push_back(io::tensor_entry::from(name, f.at(name).shape, v));
  }
  std::map<std::string, std::string> meta(f.metadata().begin(), f.metadata().end());
  const auto bad = scratch("nan.safetensors");
  io::write_safetensors(bad, entries, meta);
  auto target = std::make_unique<enc>(1, 4);
  const std::string message = error_of([&] { io::load_checkpoint(bad, *target); });
  CHECK(contains(message, "nan.safetensors: tensor 'blocks.0.ff1.weight'"));
  CHECK(contains(message, "element 81 (index [1, 1]) is NaN"));
  CHECK(contains(message, "load_options::allow_non_finite"));
  io::load_checkpoint(bad, *target, io::load_options{.allow_non_finite = true});
  // a file opened by the caller follows its own setting
  auto file = io::safetensors_file::open(bad);
  CHECK(contains(error_of([&] { io::load_checkpoint(file, *target); }), "is NaN"));
  file.set_allow_non_finite(true);
  io::load_checkpoint(file, *target);
}

TEST_CASE("config.json: sizes that no model_config can have are refused, naming them", "[io]") {
  json j = bert_json(autodidact::tiny_encoder);
  j["num_hidden_layers"] = 0;
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "c.json: the number of layers is 0"));
  j = bert_json(autodidact::tiny_encoder);
  j["layer_norm_eps"] = -1e-5;
  CHECK(contains(error_of([&] { io::parse_hf_config(j, "c.json"); }), "layer-norm epsilon"));
  json g = {{"model_type", "gpt2"}, {"vocab_size", 10}, {"n_positions", 8}, {"n_embd", 999999999},
            {"n_head", 1}, {"n_layer", 1}, {"n_inner", nullptr}};
  CHECK(contains(error_of([&] { io::parse_hf_config(g, "g.json"); }), "4 · n_embd"));
  CHECK(contains(error_of([&] { io::hf_config_from_string("{\"model_type\": ", "mem.json"); }), "mem.json: not valid JSON"));
}

namespace {
// How often each element of the arena is named by `map` (0 for padding).
template <class Layout>
std::vector<int> coverage(const Layout& layout, const std::vector<io::hf_tensor>& map) {
  std::vector<int> seen(layout.total, 0);
  for (const auto& t : map) {
    std::size_t n = 1;
    for (auto x : t.shape) n *= static_cast<std::size_t>(x);
    REQUIRE(t.offset + n <= layout.total);
    for (std::size_t i = 0; i < n; ++i) ++seen[t.offset + i];
  }
  return seen;
}
template <class Layout>
void require_exact_cover(const Layout& layout, const std::vector<io::hf_tensor>& map, std::size_t expected) {
  const std::vector<int> seen = coverage(layout, map);
  std::size_t named = 0;
  for (int s : seen) {
    REQUIRE(s <= 1);  // no element named twice (q, k and v slice the fused QKV without overlap)
    named += static_cast<std::size_t>(s);
  }
  CHECK(named == expected);
}
constexpr autodidact::model_config untied_decoder = [] {
  auto c = autodidact::tiny_decoder;
  c.tied_lm_head = false;
  return c;
}();
}  // namespace

TEST_CASE("name maps derived from the module tables name every parameter exactly once", "[io]") {
  using autodidact::models::memory_plan;
  using enc_plan = memory_plan<autodidact::tiny_encoder, autodidact::f32>;
  using dec_plan = memory_plan<autodidact::tiny_decoder, autodidact::f32>;
  using untied_plan = memory_plan<untied_decoder, autodidact::f32>;
  constexpr auto& E = enc_plan::parameters;
  require_exact_cover(E, io::parameter_map<autodidact::tiny_encoder>(E), E.real_parameters);
  require_exact_cover(E, io::hf_parameter_map<autodidact::tiny_encoder>(E, io::hf_naming::bert_pretraining),
                      E.real_parameters);
  // BertModel has no heads: the body alone (the count config.hpp computes, as HF's).
  require_exact_cover(E, io::hf_parameter_map<autodidact::tiny_encoder>(E, io::hf_naming::bert_model),
                      autodidact::parameter_count(autodidact::tiny_encoder));
  constexpr auto& D = dec_plan::parameters;
  require_exact_cover(D, io::parameter_map<autodidact::tiny_decoder>(D), D.real_parameters);
  require_exact_cover(D, io::hf_parameter_map<autodidact::tiny_decoder>(D, io::hf_naming::gpt2_lm), D.real_parameters);
  constexpr auto& U = untied_plan::parameters;
  const auto untied = io::hf_parameter_map<untied_decoder>(U, io::hf_naming::gpt2_lm);
  require_exact_cover(U, untied, U.real_parameters);
  CHECK(std::any_of(untied.begin(), untied.end(), [](const io::hf_tensor& t) {
    return t.name == "lm_head.weight" && t.shape == std::vector<std::int64_t>{101, 64};
  }));
  // Names, slices and transpositions as Hugging Face has them.
  const auto bert = io::hf_parameter_map<autodidact::tiny_encoder>(E, io::hf_naming::bert_pretraining);
  auto find = [](const std::vector<io::hf_tensor>& m, const std::string& name) {
    auto it = std::find_if(m.begin(), m.end(), [&](const io::hf_tensor& t) { return t.name == name; });
    REQUIRE(it != m.end());
    return *it;
  };
  using bm = autodidact::models::block_module;
  const auto key = find(bert, "bert.encoder.layer.1.attention.self.key.weight");
  CHECK(key.offset == E.blocks[1][bm::qkv_weight] + 80 * 80);
  CHECK(key.shape == std::vector<std::int64_t>{80, 80});
  CHECK(find(bert, "cls.predictions.bias").shape == std::vector<std::int64_t>{97});
  CHECK(find(bert, "cls.seq_relationship.weight").shape == std::vector<std::int64_t>{2, 80});
  const auto gpt = io::hf_parameter_map<autodidact::tiny_decoder>(D, io::hf_naming::gpt2_lm);
  const auto c_fc = find(gpt, "transformer.h.0.mlp.c_fc.weight");
  CHECK(c_fc.transposed);
  CHECK(c_fc.shape == std::vector<std::int64_t>{64, 256});
  CHECK(find(gpt, "transformer.ln_f.bias").offset == D.final_norm[autodidact::models::final_norm_module::bias]);

  // ELECTRA: the generator's names (body, projection, generator head) and
  // the discriminator's body; factorised widths in every shape.
  using electra_plan = memory_plan<electra_narrow, autodidact::f32>;
  constexpr auto& G = electra_plan::parameters;
  const auto gen = io::hf_parameter_map<electra_narrow>(G, io::hf_naming::electra_generator);
  require_exact_cover(G, gen, G.real_parameters);
  require_exact_cover(G, io::hf_parameter_map<electra_narrow>(G, io::hf_naming::electra_discriminator),
                      autodidact::parameter_count(electra_narrow));
  require_exact_cover(G, io::hf_parameter_map<electra_narrow>(G, io::hf_naming::bert_model),
                      autodidact::parameter_count(electra_narrow));
  CHECK(find(gen, "electra.embeddings.word_embeddings.weight").shape == std::vector<std::int64_t>{61, 20});
  CHECK(find(gen, "electra.embeddings.LayerNorm.weight").shape == std::vector<std::int64_t>{20});
  CHECK(find(gen, "electra.embeddings_project.weight").shape == std::vector<std::int64_t>{48, 20});
  CHECK(find(gen, "generator_predictions.dense.weight").shape == std::vector<std::int64_t>{20, 48});
  CHECK(find(gen, "generator_predictions.LayerNorm.bias").shape == std::vector<std::int64_t>{20});
  CHECK(find(gen, "generator_lm_head.bias").shape == std::vector<std::int64_t>{61});
  // The count config.hpp computes for the body: embeddings 20 wide, the
  // projection 48 x 20 + 48, no pooler.
  CHECK(autodidact::parameter_count(electra_narrow) ==
        (61 + 24 + 2) * 20 + 2 * 20 + 48 * 20 + 48 + 2 * autodidact::block_parameter_count(electra_narrow));
}

TEST_CASE("a format_version 1 checkpoint (no attention, embedding_norm, final_norm fields) still loads", "[io]") {
  using dec = models::decoder<autodidact::tiny_decoder, f32>;
  auto d = std::make_unique<dec>(1, 4);
  fill(*d);
  const auto v2 = scratch("dec_v2.safetensors"), v1 = scratch("dec_v1.safetensors");
  io::save_checkpoint(v2, *d);
  // Rewrite the file as version 1 wrote it: same tensors, the older metadata.
  const auto file = io::safetensors_file::open(v2);
  CHECK(file.metadata().at("format_version") == "2");
  std::map<std::string, std::string> meta(file.metadata().begin(), file.metadata().end());
  meta["format_version"] = "1";
  meta.erase("config.attention");
  meta.erase("config.embedding_norm");
  meta.erase("config.final_norm");
  std::vector<io::tensor_ref> refs;
  for (const std::string& name : file.names()) {
    const auto& info = file.at(name);
    refs.push_back({name, info.dtype, info.shape, file.raw(name)});
  }
  io::write_safetensors(v1, std::span<const io::tensor_ref>(refs), meta);
  CHECK(io::checkpoint_config(io::safetensors_file::open(v1)) == autodidact::tiny_decoder);
  auto d1 = std::make_unique<dec>(1, 4, models::init_options{.zeros = true});
  io::load_checkpoint(v1, *d1);
  CHECK(std::equal(d->parameters().begin(), d->parameters().end(), d1->parameters().begin()));
  // A version this library does not know is refused, naming both it knows.
  meta["format_version"] = "3";
  io::write_safetensors(v1, std::span<const io::tensor_ref>(refs), meta);
  CHECK(contains(error_of([&] { io::load_checkpoint(v1, *d1); }), "format_version \"3\", expected \"1\" or \"2\""));
}

}  // namespace io_checkpoint_tests
