// The corpus replay driver for builds without libFuzzer (g++): every
// harness compiled into this one program, each fed the files of
// <corpus>/<harness>/ (the harness name without "fuzz_") once. A clean
// rejection (autodidact::error) is expected; anything else ends the program
// (an uncaught exception, a failed invariant, a sanitizer report). Prints
// per harness the inputs replayed and the slowest one in CPU time (what
// tools/fuzz.sh's campaigns are checked against: no input over 1 s).
//   fuzz_replay <corpus folder> [harness]
#define AUTODIDACT_FUZZ_REPLAY_ALL 1

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "bpe_files.cpp"
#include "checkpoint.cpp"
#include "corpus.cpp"
#include "encode.cpp"
#include "hf_config.cpp"
#include "safetensors.cpp"
#include "tokenizer_json.cpp"
#include "vocab_txt.cpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus folder> [harness]\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const std::string only = argc > 2 ? argv[2] : "";
  std::vector<autodidact::fuzz::harness_entry> harnesses(autodidact::fuzz::harness_table(),
                                                         autodidact::fuzz::harness_table() + autodidact::fuzz::harness_count());
  std::sort(harnesses.begin(), harnesses.end(),
            [](const auto& a, const auto& b) { return std::string(a.name) < std::string(b.name); });
  int missing = 0;
  for (const auto& h : harnesses) {
    const std::string name = std::string(h.name).substr(5);  // "fuzz_safetensors" -> "safetensors"
    if (!only.empty() && name != only) continue;
    const fs::path dir = root / name;
    if (!fs::is_directory(dir)) {
      std::fprintf(stderr, "%s: no corpus folder %s\n", h.name, dir.c_str());
      ++missing;
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    h.init();
    double slowest = 0;
    std::string slowest_file = "-";
    for (const fs::path& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::clock_t start = std::clock();
      h.one_input(bytes);
      const double ms = 1000.0 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
      if (ms > slowest) {
        slowest = ms;
        slowest_file = f.filename().string();
      }
    }
    std::printf("%-16s %6zu inputs replayed, slowest %8.2f ms CPU (%s)\n", name.c_str(), files.size(), slowest,
                slowest_file.c_str());
  }
  return missing == 0 ? 0 : 1;
}
