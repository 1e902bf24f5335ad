#pragma once
// The safetensors header (part of io/safetensors.hpp): the 8-byte
// little-endian length, then a JSON object naming every tensor's dtype,
// shape and data_offsets, and optionally "__metadata__". header_parser
// validates all of it against the file's size: every failure is a
// format_error naming the file, the tensor and the expected vs actual
// value.

#include <algorithm>    // for std::sort, std::find
#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::int64_t, std::uint64_t
#include <functional>   // for std::less
#include <limits>       // for std::numeric_limits
#include <map>          // for std::map
#include <optional>     // for std::optional
#include <span>         // for std::span
#include <string>       // for std::string, std::to_string
#include <string_view>  // for std::string_view
#include <utility>      // for std::move
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"              // for autodidact::raise, format_error
#include "autodidact/io/json.hpp"                 // for try_parse_json, dump_json, nlohmann::json
#include "autodidact/io/safetensors/format.hpp"  // for tensor_info, parse_dtype, dtype_size, detail::load

namespace autodidact::io::detail {

// The largest header accepted (the format's own reference reader uses the
// same bound).
inline constexpr std::uint64_t max_header_size = 100'000'000;

// What a header declares.
struct safetensors_header {
  std::size_t data_start = 0;  // 8 + the header length: where the data section starts
  std::map<std::string, tensor_info, std::less<>> tensors;
  std::map<std::string, std::string, std::less<>> metadata;
};

// Reads and validates the header of the file whose bytes are `bytes`:
// the header length (at most the file size − 8 and at most
// max_header_size), the JSON, "__metadata__" (an object of strings), and
// for each tensor its dtype, shape (non-negative integers) and
// data_offsets ([begin, end] with begin ≤ end ≤ data size and end − begin
// = product(shape) × dtype size); no two tensors' bytes may overlap, nor
// leave bytes of the data section uncovered. `source` names the file in
// errors.
class header_parser {
 public:
  explicit header_parser(std::string_view source) : source_(source) {}

  safetensors_header parse(std::span<const std::byte> bytes) const {
    safetensors_header h;
    if (bytes.size() < 8) {
      fail({}, "the file is " + std::to_string(bytes.size()) +
                   " bytes, shorter than the 8-byte header length that starts a safetensors file");
    }
    const std::uint64_t header_size = detail::load<std::uint64_t>(bytes.data());
    if (header_size > bytes.size() - 8) {
      fail({}, "header length " + std::to_string(header_size) + " exceeds the " +
                   std::to_string(bytes.size() - 8) + " bytes that follow it");
    }
    if (header_size > max_header_size) {
      fail({}, "header length " + std::to_string(header_size) + " exceeds the limit of " +
                   std::to_string(max_header_size) + " bytes");
    }
    if (header_size < 2) {
      fail({}, "header length " + std::to_string(header_size) +
                   " is too short for a JSON object (at least 2 bytes, \"{}\")");
    }
    h.data_start = 8 + static_cast<std::size_t>(header_size);
    const std::size_t data_size = bytes.size() - h.data_start;

    const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
    // A syntax error, or out_of_range 406 (a number too large).
    auto parsed = ::autodidact::detail::try_parse_json(std::string_view(text, header_size));
    if (!parsed.ok) fail({}, "the header is not valid JSON: " + parsed.message);
    const nlohmann::json header = std::move(parsed.value);
    if (!header.is_object()) {
      fail({}, std::string("the header must be a JSON object, found a JSON ") + header.type_name());
    }

    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) {
          fail({},
               std::string("__metadata__ must be an object of strings, found a JSON ") + value.type_name());
        }
        for (const auto& [mkey, mvalue] : value.items()) {
          if (!mvalue.is_string()) {
            fail({}, "__metadata__ '" + mkey + "': expected a string value, found " + ::autodidact::detail::dump_json(mvalue));
          }
          h.metadata.emplace(mkey, mvalue.get<std::string>());
        }
        continue;
      }
      h.tensors.emplace(key, parse_tensor(key, value, data_size));
    }

    // No two tensors may share bytes (empty tensors occupy none).
    std::vector<const tensor_info*> by_offset;
    for (const auto& [name, info] : h.tensors) {
      if (info.end > info.begin) by_offset.push_back(&info);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](const tensor_info* a, const tensor_info* b) {
      return a->begin < b->begin || (a->begin == b->begin && a->name < b->name);
    });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      const tensor_info& prev = *by_offset[i - 1];
      const tensor_info& cur = *by_offset[i];
      if (cur.begin < prev.end) {
        fail(cur.name, "data_offsets [" + std::to_string(cur.begin) + ", " + std::to_string(cur.end) +
                           "] overlap tensor '" + prev.name + "' at [" + std::to_string(prev.begin) + ", " +
                           std::to_string(prev.end) + "]");
      }
    }
    // ... and together they cover the data section: no gap, no tail.
    std::size_t covered = 0;
    for (const tensor_info* t : by_offset) {
      if (t->begin > covered) {
        fail({}, "bytes [" + std::to_string(covered) + ", " + std::to_string(t->begin) +
                     ") of the data section belong to no tensor (a gap before tensor '" + t->name + "')");
      }
      covered = t->end;
    }
    if (covered != data_size) {
      fail({}, "bytes [" + std::to_string(covered) + ", " + std::to_string(data_size) +
                   ") at the end of the data section belong to no tensor (the data section is " +
                   std::to_string(data_size) + " bytes, the tensors cover " + std::to_string(covered) + ")");
    }
    return h;
  }

 private:
  [[noreturn]] void fail(std::string_view tensor, const std::string& what) const {
    if (tensor.empty()) raise<format_error>(source_, ": ", what);
    raise<format_error>(source_, ": tensor '", tensor, "': ", what);
  }

  // Reads a non-negative integer that fits in 64 bits.
  std::uint64_t non_negative(const nlohmann::json& v, std::string_view tensor, std::string_view field) const {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
    fail(tensor, std::string(field) + ": expected a non-negative integer, found " + ::autodidact::detail::dump_json(v));
  }

  tensor_info parse_tensor(const std::string& name, const nlohmann::json& value,
                           std::size_t data_size) const {
    if (!value.is_object()) {
      fail(name, std::string("expected an object with dtype, shape and data_offsets, found a JSON ") +
                     value.type_name());
    }
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      if (!value.contains(field)) fail(name, std::string("missing field '") + field + "'");
    }
    for (const auto& [field, v] : value.items()) {
      if (field != "dtype" && field != "shape" && field != "data_offsets") {
        fail(name, "unknown field '" + field + "' (expected dtype, shape and data_offsets)");
      }
    }
    tensor_info info;
    info.name = name;

    const nlohmann::json& type = value["dtype"];
    if (!type.is_string()) fail(name, "dtype: expected a string, found " + ::autodidact::detail::dump_json(type));
    const std::optional<io::dtype> parsed = parse_dtype(type.get<std::string>());
    if (!parsed) {
      fail(name, "dtype " + ::autodidact::detail::dump_json(type) +
                     " is not supported (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    }
    info.dtype = *parsed;

    const nlohmann::json& shape = value["shape"];
    if (!shape.is_array()) fail(name, "shape: expected an array of integers, found " + ::autodidact::detail::dump_json(shape));
    // Element count with overflow checks: bytes must fit the file anyway.
    std::uint64_t elements = 1;
    bool overflow = false;
    for (const nlohmann::json& d : shape) {
      const std::uint64_t extent = non_negative(d, name, "shape");
      if (extent > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(name, "shape: extent " + ::autodidact::detail::dump_json(d) + " is too large");
      }
      info.shape.push_back(static_cast<std::int64_t>(extent));
      if (extent != 0 && elements > std::numeric_limits<std::uint64_t>::max() / extent) overflow = true;
      elements *= extent;
    }
    if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) {
      elements = 0;
      overflow = false;
    }

    const nlohmann::json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2) {
      fail(name, "data_offsets: expected [begin, end], found " + ::autodidact::detail::dump_json(offsets));
    }
    const std::uint64_t begin = non_negative(offsets[0], name, "data_offsets begin");
    const std::uint64_t end = non_negative(offsets[1], name, "data_offsets end");
    if (end < begin) {
      fail(name, "data_offsets end " + std::to_string(end) + " is before begin " + std::to_string(begin));
    }
    if (end > data_size) {
      fail(name,
           "data_offsets end " + std::to_string(end) + " exceeds the data size " + std::to_string(data_size));
    }
    const std::uint64_t element_size = dtype_size(info.dtype);
    if (overflow || elements > std::numeric_limits<std::uint64_t>::max() / element_size ||
        end - begin != elements * element_size) {
      fail(name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] span " +
                     std::to_string(end - begin) + " bytes, but shape " + detail::shape_string(info.shape) +
                     " of " + std::string(dtype_name(info.dtype)) + " needs " +
                     (overflow ? std::string("more than 2^64") : std::to_string(elements * element_size)));
    }
    info.begin = static_cast<std::size_t>(begin);
    info.end = static_cast<std::size_t>(end);
    return info;
  }

  std::string_view source_;
};

}  // namespace autodidact::io::detail
