// Fuzz harness: the tokenizers' encode on arbitrary bytes. Two fixed
// tokenizers (WordPiece from tests/golden/tokenizers/
// wordpiece_trained_vocab.txt, byte-level BPE from bpe_vocab.json +
// bpe_merges.txt); the first input byte chooses the tokenizer (bit 0), the
// utf8_policy (bit 1), a pair or one text (bit 2), truncation (bit 3) and
// padding (bit 4); the rest is the text (a pair splits it in the middle).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "autodidact/tokenizers/byte_level_bpe.hpp"
#include "autodidact/tokenizers/wordpiece.hpp"
#include "tokenizer_common.hpp"

#ifndef AUTODIDACT_TEST_DATA_DIR
#error "AUTODIDACT_TEST_DATA_DIR (the tests folder) must be defined"
#endif

namespace fuzz_encode {
namespace tk = autodidact::tokenizers;

inline std::optional<tk::wordpiece_tokenizer>& wordpiece() {
  static std::optional<tk::wordpiece_tokenizer> t;
  return t;
}
inline std::optional<tk::byte_level_bpe_tokenizer>& bpe() {
  static std::optional<tk::byte_level_bpe_tokenizer> t;
  return t;
}

inline void init() {
  const std::string dir = std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/";
  try {
    wordpiece() = tk::load_wordpiece_vocab(dir + "wordpiece_trained_vocab.txt");
    bpe() = tk::load_byte_level_bpe(dir + "bpe_vocab.json", dir + "bpe_merges.txt");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_encode: cannot load the fixed tokenizers: %s\n", e.what());
    std::abort();
  }
}

template <class Tok>
void encode_with(Tok& t, unsigned flags, std::string_view text) {
  t.set_invalid_utf8(flags & 2 ? tk::utf8_policy::replace : tk::utf8_policy::strict);
  tk::encode_options o;
  if (flags & 8) o.truncation = tk::truncation_options{.max_length = 3 + (flags >> 5), .strategy = tk::truncation_strategy::longest_first};
  if (flags & 16) {
    tk::padding_options p;
    p.length = 16;
    o.padding = p;
  }
  if (flags & 4) {
    const std::string_view a = text.substr(0, text.size() / 2), b = text.substr(text.size() / 2);
    autodidact::fuzz::check_encoding(t, t.encode(a, b, o));
  } else {
    autodidact::fuzz::check_encoding(t, t.encode(text, o));
  }
  (void)t.tokenize(text);
}

inline void one_input(std::string_view input) {
  if (input.empty()) return;
  const unsigned flags = static_cast<unsigned char>(input[0]);
  const std::string_view text = input.substr(1);
  if (flags & 1) encode_with(*bpe(), flags, text);
  else encode_with(*wordpiece(), flags, text);
}
}  // namespace fuzz_encode

AUTODIDACT_FUZZ_HARNESS(fuzz_encode)
