// Fuzz harness: a GPT-2 vocab.json and merges.txt, given as one input split
// at its first NUL byte (vocab.json before, merges.txt after; no NUL: the
// whole input is the vocab.json and merges.txt is empty); a tokenizer that
// loads must then encode and decode a few texts.
#include <string_view>

#include "autodidact/tokenizers/byte_level_bpe.hpp"
#include "tokenizer_common.hpp"

namespace fuzz_bpe_files {
namespace tk = autodidact::tokenizers;

inline void init() {}

inline void one_input(std::string_view input) {
  const std::size_t nul = input.find('\0');
  const std::string_view vocab = input.substr(0, nul);
  const std::string_view merges = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  tk::byte_level_bpe_tokenizer t =
      tk::byte_level_bpe_from_strings(vocab, "fuzz/vocab.json", merges, "fuzz/merges.txt");
  for (std::string_view text : {"Hello, world! It's 2024 <|endoftext|> héllo 東京", "", "a\xff b"})
    autodidact::fuzz::exercise(t, text);
}
}  // namespace fuzz_bpe_files

AUTODIDACT_FUZZ_HARNESS(fuzz_bpe_files)
