// Fuzz harness: a Hugging Face tokenizer.json, WordPiece (BERT) or BPE
// (GPT-2), chosen by model.type as tokenizer_json_from_string does; a
// tokenizer that loads must then encode and decode a few texts.
#include <string_view>
#include <variant>

#include "autodidact/tokenizers/tokenizer_json.hpp"
#include "tokenizer_common.hpp"

namespace fuzz_tokenizer_json {
namespace tk = autodidact::tokenizers;

inline void init() {}

inline void one_input(std::string_view input) {
  tk::any_tokenizer t = tk::tokenizer_json_from_string(input, "fuzz/tokenizer.json");
  std::visit(
      [](auto& tok) {
        for (std::string_view text : {"Hello, world! [CLS] héllo 東京 <|endoftext|>", "", "unaffable\xff"})
          autodidact::fuzz::exercise(tok, text);
      },
      t);
}
}  // namespace fuzz_tokenizer_json

AUTODIDACT_FUZZ_HARNESS(fuzz_tokenizer_json)
