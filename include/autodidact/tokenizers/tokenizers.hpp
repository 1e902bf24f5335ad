#pragma once
// Umbrella header of autodidact::tokenizers: WordPiece (BERT) and byte-level
// BPE (GPT-2) tokenizers equal to Hugging Face tokenizers, their loaders
// (vocab.txt, vocab.json + merges.txt, tokenizer.json), batch encoding and
// the trainers. docs/tokenizers.md explains their use.

#include "autodidact/tokenizers/batch.hpp"           // for encode_batch, views::encode
#include "autodidact/tokenizers/byte_level_bpe.hpp"  // for byte_level_bpe_tokenizer, load_byte_level_bpe
#include "autodidact/tokenizers/encoding.hpp"        // for encoding, encode_options
#include "autodidact/tokenizers/tokenizer.hpp"       // for tokenizer
#include "autodidact/tokenizers/tokenizer_json.hpp"  // for load_*_tokenizer_json
#include "autodidact/tokenizers/tokenizer_json_writer.hpp"  // for save_tokenizer_json, to_tokenizer_json
#include "autodidact/tokenizers/trainers.hpp"        // for bpe_trainer, wordpiece_trainer
#include "autodidact/tokenizers/unicode.hpp"         // for utf8_policy
#include "autodidact/tokenizers/vocabulary.hpp"      // for vocabulary, load_vocab_txt
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_tokenizer, load_wordpiece_vocab
