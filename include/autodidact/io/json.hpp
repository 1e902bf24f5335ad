#pragma once
// JSON goes through nlohmann-json. Its parser and serializer are the most
// expensive templates the library instantiates (about 25 s of compile time
// per translation unit under ASan), so every parse and dump goes through the
// two functions below, which a program may compile once:
//   by default they are inline, and the library stays header-only;
//   with AUTODIDACT_SEPARATE_JSON defined in every translation unit, they
//   are only declared, and exactly one translation unit defines them by
//   including this header after `#define AUTODIDACT_JSON_IMPLEMENTATION`
//   (the tests do this: tests/support/json.cpp).
//
// The library's readers use try_parse_json, which reports a malformed text
// (a syntax error, or a number beyond a double's range) in its result
// instead of throwing, so they compile and report the same way with
// -fno-exceptions.

#include <cstddef>        // for std::size_t
#include <cstdint>        // for std::int64_t, std::uint64_t
#include <fstream>        // for std::ofstream
#include <limits>         // for std::numeric_limits
#include <string>         // for std::string, std::to_string
#include <string_view>    // for std::string_view
#include <unordered_map>  // for std::unordered_map
#include <vector>         // for std::vector

#include <nlohmann/json.hpp>  // for nlohmann::json

#include "autodidact/core/error.hpp"  // for require, io_error

namespace autodidact::detail {

// What try_parse_json returns: the value, or (ok false) where and why the
// text is not JSON (nlohmann's message, e.g. "[json.exception.parse_error.101]
// parse error at line 1, column 5: ...").
// A key repeated in one JSON object. nlohmann keeps the last value (as
// serde_json, behind Hugging Face tokenizers, does); the loaders report it.
struct json_duplicate_key {
  std::string object;  // where, as a JSON pointer ("/model/vocab"; "" = the top level)
  std::string key;
  // The integer values of the first and the last occurrence (no_integer
  // when the value is not an integer).
  std::int64_t first = no_integer, last = no_integer;
  static constexpr std::int64_t no_integer = std::numeric_limits<std::int64_t>::min();
};

struct json_parse_result {
  nlohmann::json value;
  bool ok = false;
  std::size_t byte = 0;  // the byte offset nlohmann reports for the error
  std::string message;
  std::vector<json_duplicate_key> duplicates;  // in the order met
};

// A SAX handler that builds the value as nlohmann's parser does, keeps the
// first error's message instead of throwing it, and records repeated keys.
class json_recording_sax : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
  using base = nlohmann::detail::json_sax_dom_parser<nlohmann::json>;

 public:
  json_recording_sax(nlohmann::json& value, json_parse_result& result)
      : base(value, /*allow_exceptions=*/false), result_(&result) {}

  bool null() { return scalar(json_duplicate_key::no_integer) && base::null(); }
  bool boolean(bool v) { return scalar(json_duplicate_key::no_integer) && base::boolean(v); }
  bool number_integer(nlohmann::json::number_integer_t v) { return scalar(v) && base::number_integer(v); }
  bool number_unsigned(nlohmann::json::number_unsigned_t v) {
    const bool fits = v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    return scalar(fits ? static_cast<std::int64_t>(v) : json_duplicate_key::no_integer) && base::number_unsigned(v);
  }
  bool number_float(nlohmann::json::number_float_t v, const std::string& s) {
    return scalar(json_duplicate_key::no_integer) && base::number_float(v, s);
  }
  bool string(std::string& v) { return scalar(json_duplicate_key::no_integer) && base::string(v); }
  bool binary(nlohmann::json::binary_t& v) { return scalar(json_duplicate_key::no_integer) && base::binary(v); }
  bool start_object(std::size_t n) {
    open(true);
    return base::start_object(n);
  }
  bool start_array(std::size_t n) {
    open(false);
    return base::start_array(n);
  }
  bool end_object() {
    frames_.pop_back();
    return base::end_object();
  }
  bool end_array() {
    frames_.pop_back();
    return base::end_array();
  }
  bool key(std::string& k) {
    frame& f = frames_.back();
    f.key = k;
    const auto it = f.seen.find(k);
    f.repeated = it != f.seen.end();
    f.first = f.repeated ? it->second : json_duplicate_key::no_integer;
    return base::key(k);
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
    if (result_->message.empty()) {
      result_->byte = position;
      result_->message = ex.what();
    }
    return nlohmann::detail::json_sax_dom_parser<nlohmann::json>::parse_error(position, token, ex);
  }

 private:
  struct frame {
    bool object = false;
    std::string path;                                   // JSON pointer of this object or array
    std::unordered_map<std::string, std::int64_t> seen;  // object: key -> its integer value
    std::string key;                                    // object: the key being read
    bool repeated = false;
    std::int64_t first = json_duplicate_key::no_integer;
    std::size_t index = 0;  // array: the element being read
  };
  // A value (a scalar, or an object or array about to start) in the
  // current object or array.
  bool scalar(std::int64_t integer) {
    if (frames_.empty()) return true;
    frame& f = frames_.back();
    if (!f.object) {
      ++f.index;
      return true;
    }
    f.seen[f.key] = integer;
    if (f.repeated) result_->duplicates.push_back({f.path, f.key, f.first, integer});
    f.repeated = false;
    return true;
  }
  void open(bool object) {
    std::string path;
    if (!frames_.empty()) {
      const frame& parent = frames_.back();
      path = parent.path + "/" + (parent.object ? parent.key : std::to_string(parent.index));
      scalar(json_duplicate_key::no_integer);
    }
    frame f;
    f.object = object;
    f.path = std::move(path);
    frames_.push_back(std::move(f));
  }

  json_parse_result* result_;
  std::vector<frame> frames_;
};

#if defined(AUTODIDACT_SEPARATE_JSON) && !defined(AUTODIDACT_JSON_IMPLEMENTATION)
// Parses `text` (throws nlohmann::json::exception, as nlohmann::json::parse).
nlohmann::json parse_json(std::string_view text);
// Parses `text`; never throws (a malformed text gives ok = false).
json_parse_result try_parse_json(std::string_view text);
// The compact text of `value` (as value.dump()).
std::string dump_json(const nlohmann::json& value);
std::string dump_json(const nlohmann::ordered_json& value);
#else
#if defined(AUTODIDACT_SEPARATE_JSON)
#define AUTODIDACT_JSON_LINKAGE
#else
#define AUTODIDACT_JSON_LINKAGE inline
#endif
AUTODIDACT_JSON_LINKAGE nlohmann::json parse_json(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end());
}
AUTODIDACT_JSON_LINKAGE json_parse_result try_parse_json(std::string_view text) {
  json_parse_result result;
  json_recording_sax sax(result.value, result);
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  result.ok = ok && !sax.is_errored() && result.message.empty();
  if (!result.ok) {
    result.value = nlohmann::json(nlohmann::json::value_t::discarded);
    if (result.message.empty()) result.message = "malformed JSON";
  }
  return result;
}
AUTODIDACT_JSON_LINKAGE std::string dump_json(const nlohmann::json& value) { return value.dump(); }
AUTODIDACT_JSON_LINKAGE std::string dump_json(const nlohmann::ordered_json& value) { return value.dump(); }
#undef AUTODIDACT_JSON_LINKAGE
#endif

// Writes a JSON document and a newline to `path` (replacing it), or raises
// io_error naming the path.
inline void write_json_file(const std::string& path, const nlohmann::ordered_json& value) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  require<io_error>(static_cast<bool>(out), path, ": cannot open for writing");
  out << dump_json(value) << '\n';
  require<io_error>(static_cast<bool>(out), path, ": write failed");
}

}  // namespace autodidact::detail
