#pragma once
// Reading the committed reference data of tests/golden/tokenizers (written
// by tools/make_tokenizer_golden.py) and the corpus built by the
// tokenizers_corpus fixture.

#include <cstdint>      // for std::uint32_t, std::uint64_t
#include <cstring>      // for std::memcpy
#include <fstream>      // for std::ifstream
#include <sstream>      // for std::ostringstream
#include <stdexcept>    // for std::runtime_error
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <vector>       // for std::vector

#include "autodidact/tokenizers/encoding.hpp"  // for encoding

namespace golden {

inline const std::string dir = std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/";

inline std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

inline std::uint64_t hash_ids(const autodidact::tokenizers::encoding& e) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (auto id : e.ids) {
    const auto v = static_cast<std::uint32_t>(id);
    h = fnv1a(&v, sizeof v, h);
  }
  return h;
}

// (id, start, end) of every token as little-endian u32s, hashed.
inline std::uint64_t hash_encoding(const autodidact::tokenizers::encoding& e) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < e.size(); ++i) {
    const std::uint32_t v[3] = {static_cast<std::uint32_t>(e.ids[i]), static_cast<std::uint32_t>(e.offsets[i].start),
                                static_cast<std::uint32_t>(e.offsets[i].end)};
    h = fnv1a(v, sizeof v, h);
  }
  return h;
}

struct corpus {
  std::string text;
  std::vector<std::string_view> lines;
};

inline corpus load_corpus() {
  corpus c;
  c.text = read(AUTODIDACT_TOKENIZER_CORPUS);
  std::size_t pos = 0;
  while (pos < c.text.size()) {
    std::size_t e = c.text.find('\n', pos);
    if (e == std::string::npos) e = c.text.size();
    c.lines.emplace_back(c.text.data() + pos, e - pos);
    pos = e + 1;
  }
  return c;
}

// The FNV-1a 64 digest recorded in corpus.digest, as hex.
inline std::string expected_corpus_digest() {
  const std::string d = read(dir + "corpus.digest");
  const auto p = d.find("fnv1a64 ");
  return p == std::string::npos ? std::string() : d.substr(p + 8, 16);
}

inline std::string hex64(std::uint64_t v) {
  char buf[17];
  for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = "0123456789abcdef"[v & 15];
  buf[16] = 0;
  return buf;
}

struct sample {
  std::vector<std::uint32_t> ids, starts, ends;
};

struct reference {
  std::uint32_t lines = 0, every = 1;
  std::vector<std::uint64_t> hashes;     // [lines] over (id, start, end)
  std::vector<std::uint64_t> id_hashes;  // [lines] over the ids alone
  std::vector<sample> samples;        // [lines / every], for lines i % every == 0
};

inline reference load_reference(const std::string& name) {
  const std::string b = read(dir + name);
  if (b.size() < 16 || b.compare(0, 8, "ADTOKG01") != 0) throw std::runtime_error(name + ": bad magic");
  reference r;
  std::memcpy(&r.lines, b.data() + 8, 4);
  std::memcpy(&r.every, b.data() + 12, 4);
  std::size_t pos = 16;
  r.hashes.resize(r.lines);
  std::memcpy(r.hashes.data(), b.data() + pos, 8ull * r.lines);
  pos += 8ull * r.lines;
  r.id_hashes.resize(r.lines);
  std::memcpy(r.id_hashes.data(), b.data() + pos, 8ull * r.lines);
  pos += 8ull * r.lines;
  auto leb = [&]() {
    std::uint32_t v = 0;
    int shift = 0;
    while (true) {
      const unsigned char c = static_cast<unsigned char>(b.at(pos++));
      v |= static_cast<std::uint32_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
      shift += 7;
    }
  };
  for (std::uint32_t i = 0; i < r.lines; i += r.every) {
    sample s;
    const std::uint32_t n = leb();
    for (std::uint32_t k = 0; k < n; ++k) {
      s.ids.push_back(leb());
      s.starts.push_back(leb());
      s.ends.push_back(leb());
    }
    r.samples.push_back(std::move(s));
  }
  return r;
}

}  // namespace golden
