#pragma once
// Trainers for both vocabularies, following Hugging Face tokenizers'
// BpeTrainer (and WordPieceTrainer, which is a BpeTrainer with the "##"
// continuing-subword prefix):
//   1. special tokens get the first ids;
//   2. the alphabet: every character of the words (optionally only the
//      `limit_alphabet` most frequent, plus `initial_alphabet`), by code point;
//   3. repeatedly merge the most frequent adjacent pair (ties: the smaller
//      pair of ids), until `vocab_size` or `min_frequency`.
// Text is streamed: feed() takes one chunk (a line) at a time and keeps only
// word counts, so memory grows with the number of distinct words, not with
// the corpus; `max_words` bounds it further by dropping the rarest words
// when exceeded. docs/tokenizers.md lists where results can differ from HF.

#include <algorithm>      // for std::sort, std::unique, std::min
#include <cstddef>        // for std::size_t
#include <cstdint>        // for std::uint32_t, std::uint64_t, std::int64_t
#include <fstream>        // for std::ifstream, std::ofstream
#include <istream>        // for std::istream
#include <map>            // for std::map
#include <optional>       // for std::optional
#include <queue>          // for std::priority_queue
#include <string>         // for std::string
#include <string_view>    // for std::string_view
#include <unordered_map>  // for std::unordered_map
#include <utility>        // for std::pair, std::move
#include <vector>         // for std::vector

#include "autodidact/io/json.hpp"  // for parse_json, dump_json, nlohmann::ordered_json (vocab.json)

#include "autodidact/core/error.hpp"                 // for autodidact::require, io_error
#include "autodidact/tokenizers/byte_level_bpe.hpp"  // for byte_level_bpe_tokenizer, detail::gpt2_split
#include "autodidact/tokenizers/unicode.hpp"         // for unicode::decode, append_utf8, validate_utf8
#include "autodidact/tokenizers/vocabulary.hpp"      // for vocabulary
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_tokenizer, detail::bert_normalize

namespace autodidact::tokenizers {

struct bpe_trainer_options {
  std::size_t vocab_size = 30000;
  std::uint64_t min_frequency = 0;
  std::vector<std::string> special_tokens;
  std::optional<std::size_t> limit_alphabet;
  std::vector<char32_t> initial_alphabet;
  std::string continuing_subword_prefix;  // "" for none; "##" for WordPiece
  std::size_t max_words = 0;              // 0: no bound on distinct words kept while streaming
};

// The result of training: the vocabulary and the merges in rank order.
struct trained_bpe {
  vocabulary vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// Counts words and learns merges over them (the words come pre-tokenized;
// byte_level_bpe_trainer and wordpiece_trainer do that part).
class bpe_trainer {
 public:
  explicit bpe_trainer(bpe_trainer_options options = {}) : options_(std::move(options)) {}

  void add_word(std::string_view word, std::uint64_t count = 1) {
    if (word.empty()) return;
    auto it = counts_.find(word);
    if (it == counts_.end()) counts_.emplace(std::string(word), count);
    else it->second += count;
    if (options_.max_words > 0 && counts_.size() > options_.max_words) prune();
  }
  const std::unordered_map<std::string, std::uint64_t, detail::string_hash, std::equal_to<>>& word_counts() const {
    return counts_;
  }

  trained_bpe train() const {
    trained_bpe out;
    vocabulary& v = out.vocab;
    for (const auto& s : options_.special_tokens) v.add(s);
    // words in a fixed order (by text), as code point sequences
    std::vector<const std::pair<const std::string, std::uint64_t>*> sorted;
    sorted.reserve(counts_.size());
    for (const auto& kv : counts_) sorted.push_back(&kv);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    // alphabet
    std::map<char32_t, std::uint64_t> alphabet;
    for (auto* kv : sorted) for_each_char(kv->first, [&](char32_t c) { alphabet[c] += kv->second; });
    for (char32_t c : options_.initial_alphabet) alphabet[c] = ~std::uint64_t{0};
    std::vector<std::pair<char32_t, std::uint64_t>> kept(alphabet.begin(), alphabet.end());
    if (options_.limit_alphabet && kept.size() > *options_.limit_alphabet) {
      std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      kept.resize(*options_.limit_alphabet);
      std::sort(kept.begin(), kept.end());
    }
    for (const auto& [c, n] : kept) {
      std::string s;
      unicode::append_utf8(s, c);
      v.add(s);
    }
    const std::string& prefix = options_.continuing_subword_prefix;
    if (!prefix.empty()) {  // "##c" for every kept character that occurs inside a word
      std::map<char32_t, bool> inner;
      for (auto* kv : sorted) {
        bool first = true;
        for_each_char(kv->first, [&](char32_t c) {
          if (!first) inner[c] = true;
          first = false;
        });
      }
      for (const auto& [c, yes] : inner) {
        std::string s;
        unicode::append_utf8(s, c);
        if (v.contains(s)) v.add(prefix + s);
      }
    }
    // words as symbol ids
    std::vector<std::vector<token_id>> words;
    std::vector<std::uint64_t> wcount;
    words.reserve(sorted.size());
    for (auto* kv : sorted) {
      std::vector<token_id> w;
      bool first = true;
      for_each_char(kv->first, [&](char32_t c) {
        std::string s;
        unicode::append_utf8(s, c);
        if (auto id = v.find(s)) {
          w.push_back(first || prefix.empty() ? *id : v.id(prefix + s));
        }
        first = false;
      });
      words.push_back(std::move(w));
      wcount.push_back(kv->second);
    }
    // pair counts and where they occur
    struct pair_info {
      std::int64_t count = 0;
      std::vector<std::uint32_t> where;
    };
    std::unordered_map<std::uint64_t, pair_info> pairs;
    auto key = [](token_id a, token_id b) {
      return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    };
    for (std::uint32_t i = 0; i < words.size(); ++i) {
      const auto& w = words[i];
      for (std::size_t k = 0; k + 1 < w.size(); ++k) {
        auto& p = pairs[key(w[k], w[k + 1])];
        p.count += static_cast<std::int64_t>(wcount[i]);
        if (p.where.empty() || p.where.back() != i) p.where.push_back(i);
      }
    }
    struct entry {
      std::int64_t count;
      std::uint64_t pair;
      bool operator<(const entry& o) const {  // the heap's top: highest count, then smallest pair
        return count != o.count ? count < o.count : pair > o.pair;
      }
    };
    std::priority_queue<entry> heap;
    for (const auto& [k, p] : pairs)
      if (p.count > 0) heap.push({p.count, k});
    std::vector<std::pair<std::uint64_t, std::int64_t>> changes;
    while (v.size() < options_.vocab_size && !heap.empty()) {
      entry top = heap.top();
      heap.pop();
      auto& info = pairs[top.pair];
      if (top.count != info.count) {
        if (info.count > 0) heap.push({info.count, top.pair});
        continue;
      }
      if (top.count < 1 || static_cast<std::uint64_t>(top.count) < options_.min_frequency) break;
      const token_id a = static_cast<token_id>(top.pair >> 32), b = static_cast<token_id>(top.pair & 0xFFFFFFFFu);
      std::string left = v.token(a), right = v.token(b);
      if (!prefix.empty() && right.compare(0, prefix.size(), prefix) == 0) right.erase(0, prefix.size());
      const token_id merged = v.add(left + right);
      out.merges.emplace_back(v.token(a), v.token(b));
      std::vector<std::uint32_t> where = std::move(info.where);
      info.where.clear();
      info.count = 0;
      changes.clear();
      for (std::uint32_t wi : where) merge_word(words[wi], a, b, merged, wi, changes, key);
      std::vector<std::uint64_t> touched;
      // apply the changes (d packs the word index in the upper bits, see merge_word)
      for (const auto& [k, packed] : changes) {
        const std::uint32_t wi = static_cast<std::uint32_t>(packed >> 2);
        const std::int64_t sign = (packed & 1) ? 1 : -1;
        auto& p = pairs[k];
        p.count += sign * static_cast<std::int64_t>(wcount[wi]);
        if (sign > 0 && (p.where.empty() || p.where.back() != wi)) p.where.push_back(wi);
        touched.push_back(k);
      }
      std::sort(touched.begin(), touched.end());
      touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
      for (std::uint64_t k : touched) {
        const auto& p = pairs[k];
        if (p.count > 0) heap.push({p.count, k});
      }
    }
    return out;
  }

 private:
  template <class F>
  static void for_each_char(std::string_view s, F&& f) {
    for (std::size_t p = 0; p < s.size();) {
      char32_t c;
      bool bad;
      p += unicode::decode(s, p, c, bad);
      f(c);
    }
  }

  // Merges (a, b) -> m left to right in one word; records the pair count
  // changes as (pair, word index << 2 | 1 for +1, 0 for -1).
  template <class Key>
  static void merge_word(std::vector<token_id>& w, token_id a, token_id b, token_id m, std::uint32_t wi,
                         std::vector<std::pair<std::uint64_t, std::int64_t>>& changes, Key key) {
    const std::int64_t plus = (static_cast<std::int64_t>(wi) << 2) | 1, minus = static_cast<std::int64_t>(wi) << 2;
    std::size_t i = 0;
    while (i + 1 < w.size()) {
      if (w[i] == a && w[i + 1] == b) {
        if (i > 0) {
          changes.emplace_back(key(w[i - 1], a), minus);
          changes.emplace_back(key(w[i - 1], m), plus);
        }
        w[i] = m;
        w.erase(w.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        if (i + 1 < w.size()) {
          changes.emplace_back(key(b, w[i + 1]), minus);
          changes.emplace_back(key(m, w[i + 1]), plus);
        }
      }
      ++i;
    }
  }

  void prune() {
    // drop the words seen once, then twice, ... until under the bound
    for (std::uint64_t limit = 1; counts_.size() > options_.max_words / 2; ++limit)
      for (auto it = counts_.begin(); it != counts_.end();) it = it->second <= limit ? counts_.erase(it) : std::next(it);
  }

  bpe_trainer_options options_;
  std::unordered_map<std::string, std::uint64_t, detail::string_hash, std::equal_to<>> counts_;
};

// Trains a GPT-2 style byte-level BPE: text is split by the GPT-2 pattern,
// each piece mapped to the byte-level alphabet, and the 256 byte characters
// are always in the alphabet.
class byte_level_bpe_trainer {
 public:
  explicit byte_level_bpe_trainer(bpe_trainer_options options = {}) : trainer_(with_bytes(std::move(options))) {}

  // One chunk of text (HF feeds each line with its '\n').
  void feed(std::string_view text) {
    unicode::validate_utf8(text, "training text");
    detail::gpt2_split(text, [&](std::size_t b, std::size_t e) { trainer_.add_word(bytes_to_byte_level(text.substr(b, e - b))); });
  }
  // Streams a file line by line (lines keep their '\n', as HF's trainer reads them).
  void feed_file(const std::string& path) { feed_lines(path, [&](std::string_view l) { feed(l); }); }

  trained_bpe train() const { return trainer_.train(); }
  byte_level_bpe_tokenizer train_tokenizer() const {
    trained_bpe t = train();
    std::vector<added_token> added;
    for (const auto& s : special_) added.push_back(added_token{s, t.vocab.id(s), true});
    return byte_level_bpe_tokenizer(byte_level_bpe_model(std::move(t.vocab), t.merges), std::move(added), post_processor{});
  }
  const bpe_trainer& base() const noexcept { return trainer_; }

  template <class F>
  static void feed_lines(const std::string& path, F&& f) {
    std::ifstream in(path, std::ios::binary);
    require<io_error>(static_cast<bool>(in), path, ": cannot open the training text");
    std::string line;
    while (std::getline(in, line)) {
      if (!in.eof()) line.push_back('\n');
      f(std::string_view(line));
    }
  }

 private:
  bpe_trainer_options with_bytes(bpe_trainer_options o) {
    for (int b = 0; b < 256; ++b) o.initial_alphabet.push_back(byte_to_unicode()[static_cast<std::size_t>(b)]);
    special_ = o.special_tokens;
    return o;
  }
  std::vector<std::string> special_;
  bpe_trainer trainer_;
};

// Trains a BERT WordPiece vocabulary: text goes through the BERT normalizer
// and pre-tokenizer, then BPE merges with the "##" prefix build the pieces.
class wordpiece_trainer {
 public:
  explicit wordpiece_trainer(bpe_trainer_options options = {}, bert_normalizer_options normalizer = {})
      : trainer_(with_prefix(std::move(options))), normalizer_(normalizer) {}

  void feed(std::string_view text) {
    unicode::validate_utf8(text, "training text");
    thread_local std::vector<detail::normalized_char> norm;
    detail::bert_normalize(text, normalizer_, norm);
    std::string word;
    auto flush = [&] {
      if (!word.empty()) trainer_.add_word(word);
      word.clear();
    };
    for (const auto& nc : norm) {
      if (unicode::is_white_space(nc.c)) {
        flush();
      } else if (unicode::is_bert_punctuation(nc.c)) {
        flush();
        unicode::append_utf8(word, nc.c);
        flush();
      } else {
        unicode::append_utf8(word, nc.c);
      }
    }
    flush();
  }
  void feed_file(const std::string& path) {
    byte_level_bpe_trainer::feed_lines(path, [&](std::string_view l) { feed(l); });
  }

  trained_bpe train() const { return trainer_.train(); }
  // The trained vocabulary as a BERT tokenizer (needs [UNK], [CLS], [SEP]
  // among the special tokens).
  wordpiece_tokenizer train_tokenizer(wordpiece_options options = {}) const {
    trained_bpe t = train();
    options.normalizer = normalizer_;
    for (const char* s : {"[CLS]", "[SEP]"})
      require<invalid_argument>(t.vocab.contains(s), "wordpiece_trainer: the special token ", s,
                                " is needed for a BERT tokenizer; add it to special_tokens");
    post_processor post = post_processor::bert(t.vocab.id("[CLS]"), t.vocab.id("[SEP]"));
    auto added = bert_special_tokens(t.vocab);
    return wordpiece_tokenizer(wordpiece_model(std::move(t.vocab), std::move(options)), std::move(added), std::move(post));
  }
  const bpe_trainer& base() const noexcept { return trainer_; }

 private:
  static bpe_trainer_options with_prefix(bpe_trainer_options o) {
    if (o.continuing_subword_prefix.empty()) o.continuing_subword_prefix = "##";
    return o;
  }
  bpe_trainer trainer_;
  bert_normalizer_options normalizer_;
};

// Writes vocab.txt (one token a line, by id).
inline void save_vocab_txt(const vocabulary& v, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  require<io_error>(static_cast<bool>(out), path, ": cannot open for writing");
  for (std::size_t i = 0; i < v.id_bound(); ++i) out << (v.has_id(static_cast<token_id>(i)) ? v.token(static_cast<token_id>(i)) : std::string()) << '\n';
  require<io_error>(static_cast<bool>(out), path, ": write error");
}

// Writes vocab.json and merges.txt (with the "#version: 0.2" header).
inline void save_bpe(const trained_bpe& t, const std::string& vocab_json, const std::string& merges_txt) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < t.vocab.id_bound(); ++i)
    if (t.vocab.has_id(static_cast<token_id>(i))) j[t.vocab.token(static_cast<token_id>(i))] = i;
  std::ofstream vj(vocab_json, std::ios::binary);
  require<io_error>(static_cast<bool>(vj), vocab_json, ": cannot open for writing");
  vj << ::autodidact::detail::dump_json(j);
  std::ofstream mt(merges_txt, std::ios::binary);
  require<io_error>(static_cast<bool>(mt), merges_txt, ": cannot open for writing");
  mt << "#version: 0.2\n";
  for (const auto& [a, b] : t.merges) mt << a << ' ' << b << '\n';
}

}  // namespace autodidact::tokenizers
