// Streaming in bounded memory: a generated corpus many times larger than
// the shuffle buffer goes through the whole pipeline while the process's
// peak resident set (VmHWM) grows by no more than a small multiple of the
// buffer. A control shows the probe sees an allocation of corpus size.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "autodidact/data/pipeline.hpp"
#include "autodidact/tokenizers/wordpiece.hpp"
#include "../support/scratch.hpp"

namespace data_memory_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace tk = autodidact::tokenizers;
namespace data = autodidact::data;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#else
constexpr bool under_asan = false;
#endif

const char* const words[] = {"the",  "cat",   "sat",   "on",    "mat",   "dog",   "ran",   "a",
                             "big",  "red",   "house", "tree",  "under", "over",  "quick", "brown",
                             "fox",  "jumps", "lazy",  "river", "stone", "light", "dark",  "green",
                             "blue", "small", "old",   "new",   "bird",  "sings"};

// Every word is in the vocabulary, plus letters and ##letters so that any
// lower-case word can be covered.
tk::wordpiece_tokenizer small_tokenizer() {
  std::string v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n";
  for (const char* w : words) v += std::string(w) + "\n";
  for (char c = 'a'; c <= 'z'; ++c) v += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
  return tk::wordpiece_vocab_from_string(v, "small/vocab.txt");
}

// Writes about `bytes` of text: lines of 4-19 words (some made of pieces),
// documents of 1-8 lines. Written in 1 MB pieces: the test's own memory stays small.
std::uint64_t write_corpus(const std::string& path, std::uint64_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::uint64_t state = 0x9E3779B97F4A7C15ull, written = 0;
  auto next = [&](std::uint32_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>((state >> 33) % n);
  };
  std::string chunk;
  while (written < bytes) {
    chunk.clear();
    while (chunk.size() < (1u << 20)) {
      const std::uint32_t lines = 1 + next(8);
      for (std::uint32_t l = 0; l < lines; ++l) {
        const std::uint32_t n = 4 + next(16);
        for (std::uint32_t w = 0; w < n; ++w) {
          if (w) chunk += ' ';
          chunk += words[next(30)];
          if (next(10) == 0) chunk += words[next(30)];  // a compound: the word and "##" pieces
        }
        chunk += " .\n";
      }
      chunk += '\n';
    }
    out << chunk;
    written += chunk.size();
  }
  return written;
}

std::uint64_t status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(in, line))
    if (line.compare(0, n, field) == 0) return std::stoull(line.substr(n + 1));
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where not allowed.
bool reset_peak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace

TEST_CASE("data_memory: a corpus many times the shuffle buffer streams in bounded memory", "[unit]") {
  const auto tok = small_tokenizer();
  const auto dir = autodidact_test::scratch_folder("autodidact_data_memory");
  const std::string path = (dir / "corpus.txt").string();
  // Under ASan the run is slower: a smaller corpus and buffer, still 25 times apart
  const std::uint64_t corpus_bytes = write_corpus(path, under_asan ? (8ull << 20) : (64ull << 20));

  data::pipeline_options o;
  o.files = {path};
  o.windows = data::bert_window_options(tok, 128);
  o.shuffle_buffer = under_asan ? 256 : 2048;
  o.seed = 7;
  o.batch_size = 32;
  const std::uint64_t buffer_bytes =
      o.shuffle_buffer * o.windows.length * (4 + 4 + 1 + 1);  // ids, segments, flags

  const bool reset = reset_peak();
  const std::uint64_t before = (reset ? status_kb("VmRSS:") : status_kb("VmHWM:")) * 1024;
  std::uint64_t windows = 0, tokens = 0, rows_ok = 0;
  {
    data::pipeline<tk::wordpiece_model> p(tok, o, 512);
    data::batch b;
    while (p.next(b)) {
      for (int r = 0; r < b.size; ++r) {
        const std::int32_t len = b.lengths[static_cast<std::size_t>(r)];
        tokens += static_cast<std::uint64_t>(len);
        rows_ok += len > 1 && len <= b.seq && b.ids[static_cast<std::size_t>(r * b.seq)] == 2;  // [CLS] first
      }
      windows += static_cast<std::uint64_t>(b.size);
    }
  }
  const std::uint64_t peak = status_kb("VmHWM:") * 1024;
  const std::uint64_t growth = peak > before ? peak - before : 0;
  INFO("corpus " << corpus_bytes << " bytes, " << windows << " windows, " << tokens << " tokens; buffer "
                 << buffer_bytes << " bytes; peak RSS growth " << growth << " bytes (peak reset: " << reset
                 << ")");
  CHECK(rows_ok == windows);
  CHECK(windows * 128 >=
        corpus_bytes / 8);  // the whole corpus went through (a token is under 8 bytes of text)
  CHECK(corpus_bytes >= 16 * buffer_bytes);
#if !defined(__SANITIZE_ADDRESS__)
  // Only the RSS assertions are skipped under ASan: its shadow memory and the quarantine of freed
  // blocks make the resident set grow with everything ever allocated, bounded or not.
  // The bound: twice the buffer (the slots and the windows in flight) plus 4 MiB for the allocator, the
  // file buffer and the tokenizer's tables; a fifth of the corpus
  const std::uint64_t bound = 2 * buffer_bytes + (4ull << 20);
  CHECK(bound * 5 <= corpus_bytes);
  CHECK(growth <= bound);
  if (reset) {  // control: the probe sees memory of corpus size when it is used
    REQUIRE(reset_peak());
    const std::uint64_t base = status_kb("VmRSS:") * 1024;
    {
      std::vector<char> big(corpus_bytes);
      for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i);
      CHECK(big[4096] == static_cast<char>(4096));
    }
    CHECK(status_kb("VmHWM:") * 1024 - base >= corpus_bytes * 9 / 10);
  }
#endif
  std::filesystem::remove(path);
}

}  // namespace data_memory_tests
