#pragma once
// Test helper shared by tokenizers_unit and tokenizers_badinput.
#include <string>
#include <vector>

// A small BERT tokenizer.json: vocabulary `vocab` (ids in order), the
// TemplateProcessing post-processor naming [CLS] = cls_id and [SEP] = sep_id.
inline std::string small_wordpiece_json(const std::vector<std::string>& vocab, int cls_id, int sep_id) {
  std::string v;
  for (std::size_t i = 0; i < vocab.size(); ++i) v += (i ? ", \"" : "\"") + vocab[i] + "\": " + std::to_string(i);
  return R"({"normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [)" +
         std::to_string(cls_id) + R"(], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [)" +
         std::to_string(sep_id) + R"(], "tokens": ["[SEP]"]}}},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {)" +
         v + "}}}";
}
