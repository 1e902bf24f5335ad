// Fuzz harness: a pretraining corpus file (data/corpus.hpp: UTF-8 lines,
// blank lines between documents) read twice in one corpus (two files), and
// the same file through the data pipeline (data/pipeline.hpp: WordPiece,
// packed windows of 8 — sentence pairs when the input's length is odd — a
// shuffle buffer, batches of 3) for up to two epochs. (One mode per input,
// chosen by its length, which mutations change all the time: both modes
// per input cost twice the time for the same coverage.) Checks what the reader promises: line numbers count up
// from 1 in each file, documents never go back and a new file starts a new
// one, no line keeps its line break (a CR before it goes with it; other CRs are
// text); and the pipeline's windows and batches
// have their sizes, valid ids and lengths.
#include <cstdint>
#include <cstdio>
#include <cstdlib>  // for std::atexit
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>  // for std::error_code
#include <unistd.h>  // for getpid

#include "autodidact/data/corpus.hpp"
#include "autodidact/data/pipeline.hpp"
#include "autodidact/tokenizers/wordpiece.hpp"
#include "fuzz.hpp"

namespace fuzz_corpus {
namespace data = autodidact::data;
namespace tk = autodidact::tokenizers;

inline std::string& path() {
  static std::string p;
  return p;
}

inline void init() {
  path() = (std::filesystem::temp_directory_path() / ("autodidact_fuzz_corpus_" + std::to_string(getpid()) + ".txt"))
               .string();
  // The file goes when the process ends normally (libFuzzer's -runs limit,
  // the replay driver); a crash leaves it next to its finding.
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove(path(), ec);
  });
}

inline const tk::wordpiece_tokenizer& tokenizer() {
  static const tk::wordpiece_tokenizer t = tk::wordpiece_vocab_from_string(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\na\n##s\n##e\nb\n.\n,\nlady\n##y\ne\n", "fuzz/vocab.txt");
  return t;
}

inline void one_input(std::string_view input) {
  {
    std::ofstream out(path(), std::ios::binary | std::ios::trunc);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  // The reader.
  std::uint64_t last_document = 0, last_line = 0, lines = 0;
  std::uint32_t last_file = 0;
  for (const data::corpus_line& l : data::read_corpus({path(), path()})) {
    AUTODIDACT_FUZZ_CHECK(l.file <= 1 && l.file >= last_file);
    if (lines > 0 && l.file != last_file) {
      AUTODIDACT_FUZZ_CHECK(l.document > last_document);
      last_line = 0;
    }
    AUTODIDACT_FUZZ_CHECK(lines == 0 || l.document >= last_document);
    AUTODIDACT_FUZZ_CHECK(l.line > last_line);
    AUTODIDACT_FUZZ_CHECK(l.text.find('\n') == std::string::npos);
    last_document = l.document;
    last_line = l.line;
    last_file = l.file;
    ++lines;
  }
  // The pipeline: packed windows, or sentence pairs.
  {
    const bool pairs = input.size() % 2 == 1;
    data::pipeline_options o;
    o.files = {path()};
    o.windows = data::bert_window_options(tokenizer(), 8);
    o.sentence_pairs = pairs;
    o.shuffle_buffer = 4;
    o.seed = 7;
    o.batch_size = 3;
    data::pipeline<tk::wordpiece_model> pipe(tokenizer(), o, 8);
    data::batch b;
    const auto vocab = static_cast<std::int32_t>(tokenizer().vocab().size());
    for (int i = 0; i < 64 && pipe.position().epoch < 2; ++i) {
      if (!pipe.next(b)) continue;  // an epoch's end: the next call starts the next epoch
      AUTODIDACT_FUZZ_CHECK(b.size >= 1 && b.size <= 3 && b.seq == 8);
      AUTODIDACT_FUZZ_CHECK(b.ids.size() == std::size_t(b.size) * 8 && b.segments.size() == b.ids.size());
      for (std::int32_t id : b.ids) AUTODIDACT_FUZZ_CHECK(id >= 0 && id < vocab);
      for (int r = 0; r < b.size; ++r)
        AUTODIDACT_FUZZ_CHECK(b.lengths[std::size_t(r)] >= 1 && b.lengths[std::size_t(r)] <= 8);
    }
  }
}
}  // namespace fuzz_corpus

AUTODIDACT_FUZZ_HARNESS(fuzz_corpus)
