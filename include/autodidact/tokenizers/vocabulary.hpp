#pragma once
// A token <-> id table and the loaders of the vocabulary files Hugging Face
// models ship: vocab.txt (WordPiece), vocab.json + merges.txt (BPE).
// Malformed files raise format_error naming the file, line or byte offset
// and what was expected; a missing file raises io_error. Each loader has a
// twin that parses text held in memory (*_from_string(text, source);
// `source` names it in errors).

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::int32_t
#include <fstream>      // for std::ifstream
#include <functional>   // for std::equal_to, std::hash
#include <limits>       // for std::numeric_limits
#include <optional>     // for std::optional
#include <sstream>      // for std::ostringstream
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <unordered_map>  // for std::unordered_map
#include <utility>      // for std::pair, std::move
#include <vector>       // for std::vector

#include "autodidact/io/json.hpp"  // for parse_json, dump_json, nlohmann::json (vocab.json)

#include "autodidact/core/error.hpp"           // for autodidact::raise, require, io_error, format_error
#include "autodidact/tokenizers/encoding.hpp"  // for token_id
#include "autodidact/tokenizers/unicode.hpp"   // for unicode::decode

namespace autodidact::tokenizers {

namespace detail {
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require<io_error>(static_cast<bool>(in), path, ": cannot open the file for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  require<io_error>(!in.bad(), path, ": read error");
  return std::move(ss).str();
}

// Throws format_error if `text` (line `line` of `path`) is not valid UTF-8.
inline void check_utf8_line(std::string_view text, const std::string& path, std::size_t line, std::size_t line_offset) {
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t cp;
    bool bad;
    const std::size_t len = unicode::decode(text, pos, cp, bad);
    if (bad) {
      raise<format_error>(path, ":", line, ": invalid UTF-8 at byte offset ", line_offset + pos,
                          " of the file: expected UTF-8 text");
    }
    pos += len;
  }
}
}  // namespace detail

// A token that a vocab.txt lists more than once (see load_vocab_txt).
struct duplicate_token {
  std::string token;
  token_id dropped;  // an earlier line's id, which now names no token
  token_id kept;     // the id the token has (its last line)
};

class vocabulary {
 public:
  vocabulary() = default;

  // Adds a token with the given id (the next free id by default); a token
  // already present keeps its first id unless `overwrite`.
  token_id add(std::string token, std::optional<token_id> id = std::nullopt, bool overwrite = false) {
    const token_id i = id.value_or(static_cast<token_id>(tokens_.size()));
    require<invalid_argument>(i >= 0, "vocabulary: token '", token, "' has the negative id ", i);
    if (static_cast<std::size_t>(i) >= tokens_.size()) {
      tokens_.resize(static_cast<std::size_t>(i) + 1);
      present_.resize(static_cast<std::size_t>(i) + 1, false);
    }
    auto it = ids_.find(std::string_view(token));
    if (it != ids_.end() && !overwrite) return it->second;
    tokens_[static_cast<std::size_t>(i)] = token;
    present_[static_cast<std::size_t>(i)] = true;
    if (it != ids_.end()) it->second = i;
    else ids_.emplace(std::move(token), i);
    max_token_bytes_ = std::max(max_token_bytes_, tokens_[static_cast<std::size_t>(i)].size());
    return i;
  }

  std::optional<token_id> find(std::string_view token) const {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  bool contains(std::string_view token) const { return ids_.find(token) != ids_.end(); }

  // The id of a token that must exist (tokenizer_error otherwise).
  token_id id(std::string_view token) const {
    auto it = ids_.find(token);
    require<tokenizer_error>(it != ids_.end(), "vocabulary: token '", token, "' is not in the vocabulary of ",
                             ids_.size(), " tokens");
    return it->second;
  }
  bool has_id(token_id id) const noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < tokens_.size() && present_[static_cast<std::size_t>(id)];
  }
  const std::string& token(token_id id) const {
    require<invalid_argument>(has_id(id), "vocabulary: id ", id, " is out of range: expected an id in [0, ",
                              tokens_.size(), ") that names a token");
    return tokens_[static_cast<std::size_t>(id)];
  }
  std::size_t size() const noexcept { return ids_.size(); }
  std::size_t id_bound() const noexcept { return tokens_.size(); }  // 1 + the largest id
  std::size_t max_token_bytes() const noexcept { return max_token_bytes_; }

  // The repeated tokens of the vocab.txt this was loaded from, in file
  // order (empty for every other source).
  const std::vector<duplicate_token>& duplicates() const noexcept { return duplicates_; }
  void add_duplicate(duplicate_token d) { duplicates_.push_back(std::move(d)); }

 private:
  std::vector<std::string> tokens_;  // [V] id -> token ("" for an unused id)
  std::vector<bool> present_;        // [V]
  std::unordered_map<std::string, token_id, detail::string_hash, std::equal_to<>> ids_;
  std::size_t max_token_bytes_ = 0;
  std::vector<duplicate_token> duplicates_;
};

// vocab.txt: one token per line, id = line number - 1; trailing whitespace
// of a line is dropped (as Hugging Face does). A token listed on several
// lines is handled as Hugging Face's BertTokenizer (load_vocab fills a dict
// line by line) and its fast tokenizer (WordPiece::read_file fills a map)
// do: the token gets the id of its LAST line, and the ids of its earlier
// lines name no token (has_id is false, decoding them is an error). Each
// such line is reported in vocabulary::duplicates(), so a caller can warn
// or refuse.
inline vocabulary vocab_txt_from_string(std::string_view text, const std::string& path) {
  require<format_error>(!text.empty(), path, ": the vocabulary file is empty: expected one token per line");
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view tok(text.data() + pos, eol - pos);
    detail::check_utf8_line(tok, path, lines.size() + 1, pos);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\r' || tok.back() == '\v' ||
                            tok.back() == '\f'))
      tok.remove_suffix(1);
    lines.push_back(tok);
    pos = eol + 1;
  }
  std::unordered_map<std::string_view, token_id> last;  // token -> its last line
  last.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) last[lines[i]] = static_cast<token_id>(i);
  vocabulary v;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const token_id kept = last[lines[i]];
    if (kept == static_cast<token_id>(i)) v.add(std::string(lines[i]), kept);
    else v.add_duplicate(duplicate_token{std::string(lines[i]), static_cast<token_id>(i), kept});
  }
  return v;
}
inline vocabulary load_vocab_txt(const std::string& path) { return vocab_txt_from_string(detail::read_file(path), path); }

// A vocabulary from a JSON object {"token": id, ...} (vocab.json, or the
// "vocab" of a tokenizer.json model); `what` names it in errors.
// Ids may leave gaps, but the largest must be below 2 × (number of tokens)
// + 256: the tables are dense, so a sparse id would cost memory out of
// proportion to the file.
inline vocabulary vocabulary_from_json(const nlohmann::json& j, const std::string& what) {
  require<format_error>(j.is_object(), what, ": expected a JSON object mapping tokens to ids, got a JSON ", j.type_name());
  const std::int64_t id_limit = 2 * static_cast<std::int64_t>(j.size()) + 256;
  vocabulary v;
  std::vector<std::uint8_t> seen;
  std::vector<std::string> by_id;
  for (auto it = j.begin(); it != j.end(); ++it) {
    require<format_error>(it.value().is_number_integer(), what, ": the id of token '", it.key(),
                          "' must be a non-negative integer, got ", ::autodidact::detail::dump_json(it.value()));
    const auto id = it.value().get<std::int64_t>();
    require<format_error>(id >= 0 && id < id_limit, what, ": the id of token '", it.key(), "' must be in [0, ", id_limit,
                          ") (2 x the ", j.size(), " tokens + 256), got ", id);
    if (static_cast<std::size_t>(id) >= by_id.size()) {
      by_id.resize(static_cast<std::size_t>(id) + 1);
      seen.resize(static_cast<std::size_t>(id) + 1, 0);
    }
    require<format_error>(!seen[static_cast<std::size_t>(id)], what,
                          ": id ", id, " is given to two tokens, '", by_id[static_cast<std::size_t>(id)], "' and '",
                          it.key(), "'");
    by_id[static_cast<std::size_t>(id)] = it.key();
    seen[static_cast<std::size_t>(id)] = 1;
    v.add(it.key(), static_cast<token_id>(id), true);
  }
  return v;
}

// Reports the keys repeated in the JSON object at `pointer` (a vocabulary
// read by vocabulary_from_json) as duplicates of `v`: nlohmann kept the last
// id, as Hugging Face tokenizers (serde_json) does; the first id names no
// token unless another token has it.
inline void add_json_duplicates(vocabulary& v, const std::vector<::autodidact::detail::json_duplicate_key>& dups,
                                std::string_view pointer) {
  for (const auto& d : dups) {
    const bool ids = d.first >= 0 && d.first <= std::numeric_limits<token_id>::max() && d.last >= 0 &&
                     d.last <= std::numeric_limits<token_id>::max();
    if (d.object == pointer && ids)
      v.add_duplicate(duplicate_token{d.key, static_cast<token_id>(d.first), static_cast<token_id>(d.last)});
  }
}

// A vocab.json; a token repeated in it keeps its last id (as Hugging Face)
// and is reported in duplicates().
inline vocabulary vocab_json_from_string(std::string_view text, const std::string& path) {
  // A syntax error, or out_of_range 406: a number too large for a double.
  const auto parsed = ::autodidact::detail::try_parse_json(text);
  if (!parsed.ok) raise<format_error>(path, ": malformed JSON at byte offset ", parsed.byte, ": ", parsed.message);
  vocabulary v = vocabulary_from_json(parsed.value, path);
  add_json_duplicates(v, parsed.duplicates, "");
  return v;
}
inline vocabulary load_vocab_json(const std::string& path) { return vocab_json_from_string(detail::read_file(path), path); }

// merges.txt: an optional "#version" line, then one "left right" pair a
// line, highest priority first.
inline std::vector<std::pair<std::string, std::string>> merges_txt_from_string(std::string_view text, const std::string& path) {
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t pos = 0, line = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    ++line;
    std::string_view l(text.data() + pos, eol - pos);
    detail::check_utf8_line(l, path, line, pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    pos = eol + 1;
    if (l.rfind("#version", 0) == 0) continue;
    const std::size_t sp = l.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == l.size() || l.find(' ', sp + 1) != std::string_view::npos) {
      raise<format_error>(path, ":", line, ": expected two tokens separated by one space, got '", l, "'");
    }
    merges.emplace_back(std::string(l.substr(0, sp)), std::string(l.substr(sp + 1)));
  }
  return merges;
}

inline std::vector<std::pair<std::string, std::string>> load_merges_txt(const std::string& path) {
  return merges_txt_from_string(detail::read_file(path), path);
}

}  // namespace autodidact::tokenizers
