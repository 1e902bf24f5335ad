#pragma once
// Reading a safetensors file (part of io/safetensors.hpp): safetensors_file
// opens a file (mapped or read, bytes.hpp), validates its header
// (header.hpp), and hands out tensors as zero-copy views or converted
// copies, checking shapes, dtypes and, for floating-point values, that they
// are finite.

#include <bit>          // for std::bit_cast
#include <cmath>        // for std::isfinite
#include <concepts>     // for std::floating_point, std::integral
#include <cstddef>      // for std::byte, std::size_t
#include <cstdint>      // for std::int64_t, std::uint64_t, std::uintptr_t, ...
#include <filesystem>   // for std::filesystem::path
#include <functional>   // for std::less
#include <limits>       // for std::numeric_limits
#include <map>          // for std::map
#include <memory>       // for std::shared_ptr, std::make_shared
#include <optional>     // for std::optional
#include <span>         // for std::span
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::is_same_v
#include <utility>      // for std::move, std::in_range
#include <vector>       // for std::vector

#include "autodidact/core/error.hpp"              // for autodidact::raise, format_error, shape_error
#include "autodidact/io/safetensors/bytes.hpp"   // for load_mode, detail::byte_buffer, map_whole_file, read_whole_file
#include "autodidact/io/safetensors/format.hpp"  // for dtype, tensor_info, maybe_dtype_of, detail::load
#include "autodidact/io/safetensors/header.hpp"  // for detail::header_parser, max_header_size

namespace autodidact::io {

// ---------------------------------------------------------------------------
// A validated safetensors file.

class safetensors_file {
 public:
  // The largest header accepted (the format's own reference reader uses the
  // same bound).
  static constexpr std::uint64_t max_header_size = detail::max_header_size;

  // Reads and validates `path`: the 8-byte little-endian header length (at
  // most the file size − 8 and at most max_header_size), the header's JSON,
  // "__metadata__" (an object of strings), and for each tensor its dtype
  // (one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL), shape (non-negative
  // integers), data_offsets ([begin, end] with begin ≤ end ≤ data size and
  // end − begin = product(shape) × dtype size) and that no two tensors'
  // bytes overlap, nor leave bytes of the data section uncovered.
  static safetensors_file open(const std::filesystem::path& path, load_mode mode = load_mode::map) {
    safetensors_file file;
    file.source_ = path.string();
    file.buffer_ = mode == load_mode::map ? detail::map_whole_file(path)
                                          : std::make_shared<const detail::owned_bytes>(detail::read_whole_file(path));
    file.parse();
    return file;
  }

  // Validates a file held in memory; `source` names it in error messages.
  static safetensors_file from_bytes(std::vector<std::byte> bytes, std::string source) {
    safetensors_file file;
    file.source_ = std::move(source);
    file.buffer_ = std::make_shared<const detail::owned_bytes>(std::move(bytes));
    file.parse();
    return file;
  }

  // True when the bytes are a memory mapping of the file.
  bool is_mapped() const noexcept { return buffer_->mapped(); }

  // Whether floating-point values that are NaN or infinite are handed out
  // (true) or rejected with format_error (false, the default).
  void set_allow_non_finite(bool allow) noexcept { allow_non_finite_ = allow; }
  bool allows_non_finite() const noexcept { return allow_non_finite_; }

  // The size of the data section in bytes (what the tensors cover).
  std::size_t data_size() const noexcept { return buffer_->bytes().size() - data_start_; }

  // The name used in error messages (the path for open()).
  const std::string& source() const noexcept { return source_; }

  bool contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }

  // The entry for `name`; format_error naming the file if it is absent.
  const tensor_info& at(std::string_view name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      raise<format_error>(source_, ": no tensor named '", name, "' (the file holds ", tensors_.size(),
                          " tensors)");
    }
    return it->second;
  }

  // Every tensor name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& [name, info] : tensors_) out.push_back(name);
    return out;
  }

  std::size_t size() const noexcept { return tensors_.size(); }

  // The "__metadata__" map (empty if the file has none).
  const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return metadata_; }

  // A tensor's raw bytes (little-endian, row-major, possibly unaligned).
  std::span<const std::byte> raw(std::string_view name) const {
    const tensor_info& info = at(name);
    return data().subspan(info.begin, info.size_bytes());
  }

  // The tensor's elements without a copy, when its dtype is T's and its
  // bytes are aligned for T; nothing otherwise. The span lives as long as
  // any copy of this safetensors_file.
  template <class T>
  std::optional<std::span<const T>> try_view(std::string_view name) const {
    const tensor_info& info = at(name);
    if (info.dtype != dtype_of<T>()) return std::nullopt;
    const std::byte* p = data().data() + info.begin;
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0) return std::nullopt;
    const std::span<const T> values(reinterpret_cast<const T*>(p), static_cast<std::size_t>(info.numel()));
    check_finite(info, values);
    return values;
  }

  // As try_view, raising format_error (naming the tensor, the dtype wanted
  // and found, or the misalignment) when a zero-copy view is impossible.
  // try_view and view raise format_error on a NaN or infinity unless
  // allowed (set_allow_non_finite).
  template <class T>
  std::span<const T> view(std::string_view name) const {
    if (auto v = try_view<T>(name)) return *v;
    const tensor_info& info = at(name);
    if (info.dtype != dtype_of<T>()) {
      raise<format_error>(source_, ": tensor '", info.name, "': a zero-copy view needs dtype ",
                          dtype_name(dtype_of<T>()), ", the file has ", dtype_name(info.dtype),
                          " (use read<T>() to convert)");
    }
    raise<format_error>(source_, ": tensor '", info.name, "': its bytes start at data offset ", info.begin,
                        ", not aligned to ", alignof(T), " bytes for a zero-copy view (use read<T>())");
  }

  // Copies tensor `name` into `out`, converting to T, after checking that
  // its shape is `expected_shape` (shape_error naming the tensor, expected
  // and actual shape otherwise) and that out.size() is its element count.
  // Floating T accepts F64 F32 F16 BF16; integral T accepts the integer
  // dtypes and BOOL (a value T cannot hold is a format_error). Anything
  // else (a float tensor into an int, or the reverse) is a format_error.
  template <class T>
  void read_into(std::string_view name, std::span<T> out,
                 std::span<const std::int64_t> expected_shape) const {
    const tensor_info& info = at(name);
    if (!std::equal(info.shape.begin(), info.shape.end(), expected_shape.begin(), expected_shape.end())) {
      raise<shape_error>(source_, ": tensor '", info.name, "': expected shape ",
                         detail::shape_string(expected_shape), ", the file has ",
                         detail::shape_string(info.shape));
    }
    convert_into(info, out);
  }

  // As above, checking only the element count (for callers that view the
  // destination flat).
  template <class T>
  void read_into(std::string_view name, std::span<T> out) const {
    convert_into(at(name), out);
  }

  // The tensor's elements, converted to T, row-major.
  template <class T>
  std::vector<T> read(std::string_view name) const {
    const tensor_info& info = at(name);
    std::vector<T> out(static_cast<std::size_t>(info.numel()));
    convert_into(info, std::span<T>(out));
    return out;
  }

 private:
  safetensors_file() = default;

  std::span<const std::byte> data() const noexcept { return buffer_->bytes().subspan(data_start_); }

  template <class T>
  void convert_into(const tensor_info& info, std::span<T> out) const {
    static_assert(std::floating_point<T> || std::integral<T>,
                  "autodidact: safetensors_file reads into floating-point or integral types.");
    static_assert(!std::is_same_v<T, bool> && !std::is_same_v<T, char>,
                  "autodidact: read integer tensors into a sized integer type (std::int64_t, std::uint8_t, "
                  "...), not bool or char.");
    if (out.size() != static_cast<std::size_t>(info.numel())) {
      raise<shape_error>(source_, ": tensor '", info.name, "' of shape ", detail::shape_string(info.shape),
                         " has ", info.numel(), " elements, the destination holds ", out.size());
    }
    const std::byte* p = data().data() + info.begin;
    const std::size_t n = out.size();
    if (maybe_dtype_of<T>() == info.dtype) {  // same representation: one copy
      if (n > 0) std::memcpy(out.data(), p, n * sizeof(T));
      check_finite(info, std::span<const T>(out));
      return;
    }
    if constexpr (std::floating_point<T>) {
      switch (info.dtype) {
        case dtype::f64:
          for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(detail::load<double>(p + 8 * i));
          break;
        case dtype::f32:
          for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(detail::load<float>(p + 4 * i));
          break;
        case dtype::f16:
          for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<T>(detail::half_to_float(detail::load<std::uint16_t>(p + 2 * i)));
          break;
        case dtype::bf16:
          for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<T>(detail::bf16_to_float(detail::load<std::uint16_t>(p + 2 * i)));
          break;
        default:
          raise<format_error>(source_, ": tensor '", info.name,
                              "': expected a floating-point dtype (F64, F32, F16 or BF16), the file has ",
                              dtype_name(info.dtype));
      }
      // (a finite F64 may still overflow a float: the converted values are checked)
      check_finite(info, std::span<const T>(out));
    } else {
      switch (info.dtype) {
        case dtype::i64:
          return convert_integers<std::int64_t>(info, p, out);
        case dtype::i32:
          return convert_integers<std::int32_t>(info, p, out);
        case dtype::i16:
          return convert_integers<std::int16_t>(info, p, out);
        case dtype::i8:
          return convert_integers<std::int8_t>(info, p, out);
        case dtype::u8:
          return convert_integers<std::uint8_t>(info, p, out);
        case dtype::boolean:
          return convert_integers<std::uint8_t>(info, p, out);
        default:
          raise<format_error>(source_, ": tensor '", info.name,
                              "': expected an integer dtype (I64, I32, I16, I8, U8 or BOOL), the file has ",
                              dtype_name(info.dtype));
      }
    }
  }

  template <class Stored, class T>
  void convert_integers(const tensor_info& info, const std::byte* p, std::span<T> out) const {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const Stored v = detail::load<Stored>(p + sizeof(Stored) * i);
      if (!std::in_range<T>(v)) {
        raise<format_error>(source_, ": tensor '", info.name, "': element ", i, " = ",
                            static_cast<std::int64_t>(v), " does not fit the destination type");
      }
      out[i] = static_cast<T>(v);
    }
  }

  // format_error at the first NaN or infinity of `values` (the elements of
  // tensor `info`), unless allowed.
  template <class T>
  void check_finite(const tensor_info& info, std::span<const T> values) const {
    if constexpr (std::floating_point<T>) {
      if (allow_non_finite_) return;
      constexpr std::size_t chunk = 1024;  // a branch-light scan, then the exact element
      for (std::size_t b = 0; b < values.size(); b += chunk) {
        const std::size_t e = std::min(values.size(), b + chunk);
        bool all_finite = true;
        for (std::size_t i = b; i < e; ++i) all_finite &= std::isfinite(values[i]);
        if (all_finite) [[likely]]
          continue;
        for (std::size_t i = b; i < e; ++i) {
          if (std::isfinite(values[i])) continue;
          // the flat index as an index into the shape
          std::vector<std::int64_t> index(info.shape.size());
          std::uint64_t rest = i;
          for (std::size_t d = info.shape.size(); d-- > 0;) {
            const auto extent = static_cast<std::uint64_t>(info.shape[d]);
            index[d] = static_cast<std::int64_t>(rest % extent);
            rest /= extent;
          }
          raise<format_error>(source_, ": tensor '", info.name, "' of shape ", detail::shape_string(info.shape),
                              ": element ", i, " (index ", detail::shape_string(index), ") is ",
                              std::isnan(values[i]) ? "NaN" : (values[i] > 0 ? "+inf" : "-inf"),
                              " after conversion to the destination type; non-finite values are rejected "
                              "(allow them with safetensors_file::set_allow_non_finite(true), or "
                              "load_options::allow_non_finite when loading a checkpoint)");
        }
      }
    }
  }

  // Validates the header (header.hpp) and keeps what it declares.
  void parse() {
    detail::safetensors_header h = detail::header_parser(source_).parse(buffer_->bytes());
    data_start_ = h.data_start;
    tensors_ = std::move(h.tensors);
    metadata_ = std::move(h.metadata);
  }

  std::string source_;
  std::shared_ptr<const detail::byte_buffer> buffer_;
  std::size_t data_start_ = 0;
  std::map<std::string, tensor_info, std::less<>> tensors_;
  std::map<std::string, std::string, std::less<>> metadata_;
  bool allow_non_finite_ = false;
};

}  // namespace autodidact::io
