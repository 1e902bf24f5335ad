// Fuzz harness: a WordPiece vocab.txt (one token per line; repeated tokens
// handled as Hugging Face does and reported), loaded as a BERT tokenizer
// that must then encode and decode a few texts.
#include <string_view>

#include "autodidact/tokenizers/wordpiece.hpp"
#include "tokenizer_common.hpp"

namespace fuzz_vocab_txt {
namespace tk = autodidact::tokenizers;

inline void init() {}

inline void one_input(std::string_view input) {
  const tk::vocabulary v = tk::vocab_txt_from_string(input, "fuzz/vocab.txt");
  for (const tk::duplicate_token& d : v.duplicates()) {
    AUTODIDACT_FUZZ_CHECK(!v.has_id(d.dropped) && v.has_id(d.kept) && v.token(d.kept) == d.token);
  }
  tk::wordpiece_tokenizer t = tk::wordpiece_vocab_from_string(input, "fuzz/vocab.txt");
  for (std::string_view text : {"Hello, world! [CLS] héllo 東京 unaffable", "", "a\xff b"})
    autodidact::fuzz::exercise(t, text);
}
}  // namespace fuzz_vocab_txt

AUTODIDACT_FUZZ_HARNESS(fuzz_vocab_txt)
