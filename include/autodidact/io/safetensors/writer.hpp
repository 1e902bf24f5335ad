#pragma once
// Writing a safetensors file (part of io/safetensors.hpp): tensors given as
// owned (tensor_entry) or borrowed (tensor_ref) bytes, written atomically
// (a temporary file renamed over the target once complete).

#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::int64_t, std::uint64_t
#include <cstring>      // for std::memcpy
#include <filesystem>   // for std::filesystem::path, rename, remove
#include <fstream>      // for std::ofstream
#include <map>          // for std::map
#include <span>         // for std::span
#include <string>       // for std::string
#include <system_error> // for std::error_code
#include <utility>      // for std::move
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"              // for autodidact::raise, io_error, invalid_argument
#include "autodidact/io/json.hpp"                 // for dump_json, nlohmann::json
#include "autodidact/io/safetensors/format.hpp"  // for dtype, dtype_of, dtype_name

namespace autodidact::io {

// ---------------------------------------------------------------------------
// The writer. tensor_entry owns a copy of its bytes (convenient for small
// files and tests); tensor_ref borrows them (a model's parameter arena is
// written without a copy). Any dtype may be written.

// A tensor to write whose bytes (little-endian, row-major) are borrowed.
struct tensor_ref {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;

  template <class T>
  static tensor_ref of(std::string name, std::vector<std::int64_t> shape, std::span<const T> values) {
    return {std::move(name), dtype_of<T>(), std::move(shape), std::as_bytes(values)};
  }
};

struct tensor_entry {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;  // little-endian, row-major

  // An entry holding a copy of `values`; values.size() must equal the
  // product of `shape`.
  template <class T>
  static tensor_entry from(std::string name, std::vector<std::int64_t> shape, std::span<const T> values) {
    tensor_entry e;
    e.name = std::move(name);
    e.dtype = dtype_of<T>();
    e.shape = std::move(shape);
    std::int64_t n = 1;
    for (std::int64_t d : e.shape) n *= d;
    if (n < 0 || static_cast<std::size_t>(n) != values.size()) {
      raise<shape_error>("tensor_entry '", e.name, "': shape ", detail::shape_string(e.shape), " holds ", n,
                         " elements, the values are ", values.size());
    }
    e.bytes.resize(values.size_bytes());
    if (!values.empty()) std::memcpy(e.bytes.data(), values.data(), values.size_bytes());
    return e;
  }
  template <class T>
  static tensor_entry from(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& values) {
    return from(std::move(name), std::move(shape), std::span<const T>(values));
  }
};

// Writes `entries` (in order) and `metadata` to `path`. The bytes go to a
// temporary file next to `path` that is renamed over it only once complete,
// so a failure leaves any existing file at `path` untouched.
// Tensors are laid out back to back in the given order after a header
// padded with spaces to a multiple of 8 bytes, so every tensor whose size is
// a multiple of its alignment stays aligned when the file is mapped. The
// header's keys are sorted: the same input gives the same bytes.
inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> entries,
                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const tensor_ref& e : entries) {
    if (e.name == "__metadata__" || header.contains(e.name)) {
      raise<invalid_argument>(path.string(), ": tensor '", e.name, "': the name is reserved or used twice");
    }
    std::uint64_t n = 1;
    for (std::int64_t d : e.shape) {
      if (d < 0)
        raise<shape_error>(path.string(), ": tensor '", e.name, "': negative extent in shape ",
                           detail::shape_string(e.shape));
      n *= static_cast<std::uint64_t>(d);
    }
    if (n * dtype_size(e.dtype) != e.bytes.size()) {
      raise<shape_error>(path.string(), ": tensor '", e.name, "': shape ", detail::shape_string(e.shape),
                         " of ", dtype_name(e.dtype), " needs ", n * dtype_size(e.dtype),
                         " bytes, the entry holds ", e.bytes.size());
    }
    header[e.name] = {{"dtype", dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string text = ::autodidact::detail::dump_json(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-aligned
  const std::uint64_t header_size = text.size();

  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) raise<io_error>(temporary.string(), ": cannot open the file for writing");
    char length[8];
    std::memcpy(length, &header_size, 8);
    out.write(length, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const tensor_ref& e : entries) {
      out.write(reinterpret_cast<const char*>(e.bytes.data()), static_cast<std::streamsize>(e.bytes.size()));
    }
    out.flush();
    if (!out) {
      out.close();
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      raise<io_error>(temporary.string(), ": write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    raise<io_error>(path.string(), ": cannot move the written file into place: ", ec.message());
  }
}

inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_entry> entries,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::vector<tensor_ref> refs;
  refs.reserve(entries.size());
  for (const tensor_entry& e : entries) refs.push_back({e.name, e.dtype, e.shape, e.bytes});
  write_safetensors(path, std::span<const tensor_ref>(refs), metadata);
}
inline void write_safetensors(const std::filesystem::path& path, const std::vector<tensor_entry>& entries,
                              const std::map<std::string, std::string>& metadata = {}) {
  write_safetensors(path, std::span<const tensor_entry>(entries), metadata);
}
inline void write_safetensors(const std::filesystem::path& path, const std::vector<tensor_ref>& entries,
                              const std::map<std::string, std::string>& metadata = {}) {
  write_safetensors(path, std::span<const tensor_ref>(entries), metadata);
}

}  // namespace autodidact::io
