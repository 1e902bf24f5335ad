#pragma once
// Export to Hugging Face: a model folder that transformers loads with
// from_pretrained —
//   config.json         the architecture (BertForPreTraining / BertForMaskedLM /
//                       ElectraForMaskedLM / GPT2LMHeadModel, from the config)
//   model.safetensors   the parameters under Hugging Face's names, metadata {"format": "pt"}
//   vocab.txt           the WordPiece vocabulary, when given (BERT's tokenizer reads it)
//   tokenizer.json,     with .tokenizer: the whole WordPiece tokenizer
//   tokenizer_config.json  (tokenizers/tokenizer_json_writer.hpp) and the settings and
//                       special tokens transformers' BertTokenizerFast reads
//
//   io::export_hf("run/hf", model, {.tokenizer = &tokenizer});
//   # python: transformers.AutoModelForMaskedLM.from_pretrained("run/hf")
//   #         transformers.AutoTokenizer.from_pretrained("run/hf")
//
// io::load_pretrained reads the folder back.

#include <filesystem>  // for std::filesystem::path, create_directories
#include <string>      // for std::string
#include <utility>     // for std::pair

#include <nlohmann/json.hpp>  // for nlohmann::ordered_json

#include "autodidact/config.hpp"                 // for model_config
#include "autodidact/core/error.hpp"             // for raise, io_error
#include "autodidact/io/checkpoint.hpp"          // for save_checkpoint, checkpoint_options
#include "autodidact/io/hf_names.hpp"            // for hf_naming
#include "autodidact/io/json.hpp"                // for write_json_file
#include "autodidact/tokenizers/tokenizer_json_writer.hpp"  // for save_tokenizer_json
#include "autodidact/tokenizers/trainers.hpp"               // for save_vocab_txt
#include "autodidact/tokenizers/vocabulary.hpp"             // for vocabulary
#include "autodidact/tokenizers/wordpiece.hpp"              // for wordpiece_tokenizer

namespace autodidact::io {

struct hf_export_options {
  const tokenizers::vocabulary* vocab = nullptr;  // written as vocab.txt when set
  // Written as tokenizer.json, tokenizer_config.json and vocab.txt when set
  // (then `vocab`, if also set, must be this tokenizer's vocabulary).
  const tokenizers::wordpiece_tokenizer* tokenizer = nullptr;
  double initializer_range = 0.02;                // config.json's (used by transformers only for new weights)
  int pad_token_id = 0;
};

// The tokenizer_config.json of a WordPiece tokenizer for model config C:
// transformers' BertTokenizerFast settings (do_lower_case, strip_accents,
// tokenize_chinese_chars: it rebuilds tokenizer.json's normalizer when they
// disagree, so they mirror it), the special tokens BERT's tokenizer names
// (those in the vocabulary) and model_max_length = C.max_positions.
template <model_config C>
nlohmann::ordered_json hf_tokenizer_config_json(const tokenizers::wordpiece_tokenizer& t) {
  const auto& n = t.model().options().normalizer;
  nlohmann::ordered_json j;
  j["tokenizer_class"] = "BertTokenizer";
  j["do_lower_case"] = n.lowercase;
  j["strip_accents"] = nullptr;
  if (n.strip_accents) j["strip_accents"] = *n.strip_accents;
  j["tokenize_chinese_chars"] = n.handle_chinese_chars;
  j["clean_up_tokenization_spaces"] = t.model().options().decoder_cleanup;
  j["model_max_length"] = C.max_positions;
  const std::pair<const char*, const char*> specials[] = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"},
                                                         {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"},
                                                         {"mask_token", "[MASK]"}};
  for (const auto& [key, token] : specials)
    if (t.vocab().contains(token)) j[key] = token;
  return j;
}

// The config.json of model config C (the class its names follow).
template <model_config C>
nlohmann::ordered_json hf_config_json(const hf_export_options& o = {}) {
  nlohmann::ordered_json j;
  const char* act = C.gelu == gelu_kind::erf ? "gelu" : "gelu_new";
  if constexpr (C.attention == attention_kind::bidirectional) {
    const bool electra = C.factorised_embeddings();
    j["architectures"] = {electra ? "ElectraForMaskedLM" : C.pooler ? "BertForPreTraining" : "BertForMaskedLM"};
    j["model_type"] = electra ? "electra" : "bert";
    j["vocab_size"] = C.vocab;
    if (electra) j["embedding_size"] = C.embedding_width();
    j["hidden_size"] = C.d_model;
    j["num_hidden_layers"] = C.layers;
    j["num_attention_heads"] = C.heads;
    j["intermediate_size"] = C.d_ff;
    j["hidden_act"] = act;
    j["max_position_embeddings"] = C.max_positions;
    j["type_vocab_size"] = C.type_vocab;
    j["layer_norm_eps"] = C.layer_norm_eps;
    j["pad_token_id"] = o.pad_token_id;
    j["position_embedding_type"] = "absolute";
    j["hidden_dropout_prob"] = 0.1;
    j["attention_probs_dropout_prob"] = 0.1;
  } else {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["vocab_size"] = C.vocab;
    j["n_positions"] = C.max_positions;
    j["n_embd"] = C.d_model;
    j["n_layer"] = C.layers;
    j["n_head"] = C.heads;
    j["n_inner"] = C.d_ff;
    j["activation_function"] = act;
    j["layer_norm_epsilon"] = C.layer_norm_eps;
    j["resid_pdrop"] = 0.1;
    j["embd_pdrop"] = 0.1;
    j["attn_pdrop"] = 0.1;
  }
  j["initializer_range"] = o.initializer_range;
  j["tie_word_embeddings"] = C.tied_lm_head;
  return j;
}

// The naming whose names the export uses.
template <model_config C>
constexpr hf_naming hf_export_naming() {
  if constexpr (C.attention == attention_kind::causal) return hf_naming::gpt2_lm;
  if constexpr (C.factorised_embeddings()) return hf_naming::electra_generator;
  return hf_naming::bert_pretraining;
}

// Writes the folder (see the top); existing files are replaced.
template <class Model>
void export_hf(const std::filesystem::path& dir, const Model& model, const hf_export_options& o = {}) {
  constexpr model_config C = Model::config;
  static_assert(C.attention == attention_kind::causal || C.norm == norm_placement::post,
                "autodidact: Hugging Face's BERT and ELECTRA are post-LN; this encoder has no Hugging Face class.");
  static_assert(C.attention == attention_kind::bidirectional ||
                    (C.norm == norm_placement::pre && !C.embedding_norm && C.final_norm && C.type_vocab == 0 &&
                     !C.factorised_embeddings()),
                "autodidact: this decoder is not GPT-2-shaped (pre-LN, final LayerNorm, no segments, no "
                "factorised embeddings); it has no Hugging Face class.");
  // The options are checked before anything is written.
  require(!(o.vocab && o.tokenizer && o.vocab != &o.tokenizer->vocab()),
          "export_hf: both .vocab and .tokenizer are set, and .vocab is not the tokenizer's vocabulary");
  const tokenizers::vocabulary* vocab = o.tokenizer ? &o.tokenizer->vocab() : o.vocab;
  if (vocab)
    require(static_cast<int>(vocab->size()) <= C.vocab, "export_hf: the vocabulary has ", vocab->size(),
            " tokens, the model only ", C.vocab);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) raise<io_error>(dir.string(), ": cannot create the folder: ", ec.message());
  ::autodidact::detail::write_json_file((dir / "config.json").string(), hf_config_json<C>(o));
  save_checkpoint(dir / "model.safetensors", model,
                  {.hf_names = hf_export_naming<C>(), .metadata = {}, .transformers_metadata = true});
  if (vocab) tokenizers::save_vocab_txt(*vocab, (dir / "vocab.txt").string());
  if (o.tokenizer) {
    tokenizers::save_tokenizer_json(*o.tokenizer, (dir / "tokenizer.json").string());
    ::autodidact::detail::write_json_file((dir / "tokenizer_config.json").string(),
                                          hf_tokenizer_config_json<C>(*o.tokenizer));
  }
}

}  // namespace autodidact::io
