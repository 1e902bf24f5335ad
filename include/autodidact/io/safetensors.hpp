#pragma once
// Reading (and, minimally, writing) safetensors files.
//
// The format (https://github.com/huggingface/safetensors):
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8 + N)    a UTF-8 JSON object: for each tensor
//                         "name": {"dtype": "F32", "shape": [2, 3],
//                                  "data_offsets": [begin, end]}
//                       and optionally "__metadata__": {"key": "value", ...}
//   bytes [8 + N, ...)  the data section; a tensor's bytes are
//                       [begin, end) relative to its start, row-major,
//                       little-endian
//
// Everything is validated when the file is opened (see safetensors_file::
// open); every failure raises an autodidact::error naming the file, the
// tensor and the expected vs actual value: io_error when the file cannot be
// opened or read, format_error when its content is malformed, shape_error
// when a caller asks for a shape the tensor does not have.
//
// By default the file is memory-mapped (POSIX mmap, read-only, private):
// opening a 90 MB checkpoint costs no copy, and view<T>(name) returns a
// zero-copy span over a tensor whose dtype is T's and whose bytes are
// aligned for T (files written by any safetensors writer are: the data
// section starts 8-aligned). load_mode::read reads the file into memory
// instead (use it when the file may be modified while open: a mapped file
// truncated by another process raises SIGBUS on access). Either way the
// bytes live behind a shared, immutable buffer (detail::byte_buffer), so
// copies of a safetensors_file are cheap and keep the mapping alive.
//
// The data section must be covered exactly: the non-empty tensors' byte
// ranges may not overlap, and may leave no gap between them nor after the
// last one (what the format's reference implementation requires too).
//
// Floating-point values are checked when they are handed out (view,
// try_view, read, read_into): a NaN or an infinity raises format_error
// naming the file, the tensor and the first bad element, unless the caller
// allows them with set_allow_non_finite(true). raw() returns the bytes
// unchecked.

#include <algorithm>     // for std::sort, std::find, std::equal
#include <bit>           // for std::endian, std::bit_cast
#include <cmath>         // for std::ldexp, std::isfinite
#include <concepts>      // for std::floating_point, std::integral
#include <cstddef>       // for std::byte, std::size_t
#include <cstdint>       // for std::int64_t, std::uint64_t, std::uint16_t, std::uintptr_t, ...
#include <cstring>       // for std::memcpy
#include <filesystem>    // for std::filesystem::path, status, rename, remove
#include <fstream>       // for std::ifstream, std::ofstream
#include <functional>    // for std::less
#include <limits>        // for std::numeric_limits
#include <map>           // for std::map
#include <memory>        // for std::shared_ptr, std::make_shared
#include <optional>      // for std::optional
#include <span>          // for std::span
#include <sstream>       // for std::ostringstream
#include <string>        // for std::string
#include <string_view>   // for std::string_view
#include <system_error>  // for std::error_code
#include <type_traits>   // for std::is_same_v
#include <utility>       // for std::move, std::in_range
#include <vector>        // for std::vector

#if __has_include(<sys/mman.h>)
#include <fcntl.h>     // for ::open, O_RDONLY, O_CLOEXEC
#include <sys/mman.h>  // for ::mmap, ::munmap, ::madvise
#include <sys/stat.h>  // for ::fstat
#include <unistd.h>    // for ::close
#include <cerrno>      // for errno
#include <cstring>     // for std::strerror
#define AUTODIDACT_HAS_MMAP 1
#else
#define AUTODIDACT_HAS_MMAP 0
#endif

#include "autodidact/io/json.hpp"  // for parse_json, dump_json, nlohmann::json (the header)

#include "autodidact/core/error.hpp"  // for autodidact::raise, format_error, io_error, shape_error

namespace autodidact::io {

static_assert(std::endian::native == std::endian::little,
              "autodidact: the safetensors reader assumes a little-endian host.");

// ---------------------------------------------------------------------------
// Element types.

enum class dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

// Bytes per element.
constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
    case dtype::i64:
      return 8;
    case dtype::f32:
    case dtype::i32:
      return 4;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16:
      return 2;
    case dtype::i8:
    case dtype::u8:
    case dtype::boolean:
      return 1;
  }
  return 0;
}

// The name the format uses ("F32", "BOOL", ...).
constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
      return "F64";
    case dtype::f32:
      return "F32";
    case dtype::f16:
      return "F16";
    case dtype::bf16:
      return "BF16";
    case dtype::i64:
      return "I64";
    case dtype::i32:
      return "I32";
    case dtype::i16:
      return "I16";
    case dtype::i8:
      return "I8";
    case dtype::u8:
      return "U8";
    case dtype::boolean:
      return "BOOL";
  }
  return "?";
}

// The dtype named `name`, or nothing if the reader does not support it.
constexpr std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (dtype t : {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64, dtype::i32, dtype::i16,
                  dtype::i8, dtype::u8, dtype::boolean}) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f64 || t == dtype::f32 || t == dtype::f16 || t == dtype::bf16;
}

// The dtype a C++ element type is written as (float → F32, ...).
template <class T>
constexpr dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double>)
    return dtype::f64;
  else if constexpr (std::is_same_v<T, float>)
    return dtype::f32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return dtype::i64;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return dtype::i32;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return dtype::i16;
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return dtype::i8;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return dtype::u8;
  else if constexpr (std::is_same_v<T, bool>)
    return dtype::boolean;
  else
    static_assert(sizeof(T) == 0, "autodidact: dtype_of<T> has no safetensors dtype for T.");
}

// dtype_of<T>() when T has one, nothing otherwise (no static_assert).
template <class T>
constexpr std::optional<dtype> maybe_dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, std::int64_t> ||
                std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int16_t> ||
                std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t>)
    return dtype_of<T>();
  else
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// One tensor's entry in the header.

struct tensor_info {
  std::string name;
  io::dtype dtype = io::dtype::f32;
  std::vector<std::int64_t> shape;  // row-major; {} is a scalar
  std::size_t begin = 0;            // byte offsets into the data section
  std::size_t end = 0;

  std::int64_t numel() const noexcept {
    // A zero extent first: the other extents may multiply past 2^63 (the
    // reader accepts [2^40, 2^40, 0], which holds no element).
    for (std::int64_t d : shape)
      if (d == 0) return 0;
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;  // fits: the reader checked the bytes
    return n;
  }
  std::size_t size_bytes() const noexcept { return end - begin; }
};

namespace detail {

// "[3, 37, 80]"
inline std::string shape_string(std::span<const std::int64_t> shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// IEEE binary16 → float (exact: every half is a float).
inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h >> 15) & 1u;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

// bfloat16 → float: the upper half of the float's bits.
inline float bf16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

template <class Stored>
Stored load(const std::byte* p) noexcept {
  Stored v;
  std::memcpy(&v, p, sizeof(Stored));
  return v;
}

// The bytes of a whole file, immutable once made: held in memory or mapped.
class byte_buffer {
 public:
  byte_buffer() = default;
  byte_buffer(const byte_buffer&) = delete;
  byte_buffer& operator=(const byte_buffer&) = delete;
  virtual ~byte_buffer() = default;
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  virtual bool mapped() const noexcept { return false; }

 protected:
  std::span<const std::byte> bytes_;
};

// Bytes held in a vector (from_bytes, load_mode::read).
class owned_bytes final : public byte_buffer {
 public:
  explicit owned_bytes(std::vector<std::byte> bytes) : storage_(std::move(bytes)) { bytes_ = storage_; }

 private:
  std::vector<std::byte> storage_;
};

#if AUTODIDACT_HAS_MMAP
// A read-only private mapping of a whole file, unmapped on destruction.
class mapped_bytes final : public byte_buffer {
 public:
  mapped_bytes(void* base, std::size_t size) : base_(base), size_(size) {
    bytes_ = std::span<const std::byte>(static_cast<const std::byte*>(base), size);
  }
  ~mapped_bytes() override {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  bool mapped() const noexcept override { return true; }

 private:
  void* base_;
  std::size_t size_;
};
#endif

inline void check_regular_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    raise<io_error>(path.string(), ": cannot open: the file does not exist");
  }
  if (std::filesystem::is_directory(status)) {
    raise<io_error>(path.string(), ": cannot open: it is a directory, expected a file");
  }
}

// Maps `path` read-only; an empty file becomes an empty in-memory buffer
// (mmap cannot map zero bytes).
inline std::shared_ptr<const byte_buffer> map_whole_file(const std::filesystem::path& path);

inline std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) raise<io_error>(path.string(), ": cannot open the file for reading");
  const std::streamoff size = in.tellg();
  if (size < 0) raise<io_error>(path.string(), ": cannot determine the file size");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    raise<io_error>(path.string(), ": read failed after ", in.gcount(), " of ", size, " bytes");
  }
  return bytes;
}

inline std::shared_ptr<const byte_buffer> map_whole_file(const std::filesystem::path& path) {
#if AUTODIDACT_HAS_MMAP
  check_regular_file(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) raise<io_error>(path.string(), ": cannot open the file for reading: ", std::strerror(errno));
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    raise<io_error>(path.string(), ": cannot determine the file size: ", std::strerror(e));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return std::make_shared<const owned_bytes>(std::vector<std::byte>{});
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (base == MAP_FAILED) raise<io_error>(path.string(), ": cannot map the file (", size, " bytes): ", std::strerror(e));
  return std::make_shared<const mapped_bytes>(base, size);
#else
  return std::make_shared<const owned_bytes>(read_whole_file(path));
#endif
}

}  // namespace detail

// How safetensors_file::open gets the bytes: mapped (zero copy; the
// default) or read into memory.
enum class load_mode { map, read };

// ---------------------------------------------------------------------------
// A validated safetensors file.

class safetensors_file {
 public:
  // The largest header accepted (the format's own reference reader uses the
  // same bound).
  static constexpr std::uint64_t max_header_size = 100'000'000;

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

  void parse() {
    const std::span<const std::byte> bytes = buffer_->bytes();
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
    data_start_ = 8 + static_cast<std::size_t>(header_size);
    const std::size_t data_size = bytes.size() - data_start_;

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
          metadata_.emplace(mkey, mvalue.get<std::string>());
        }
        continue;
      }
      tensors_.emplace(key, parse_tensor(key, value, data_size));
    }

    // No two tensors may share bytes (empty tensors occupy none).
    std::vector<const tensor_info*> by_offset;
    for (const auto& [name, info] : tensors_) {
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

  std::string source_;
  std::shared_ptr<const detail::byte_buffer> buffer_;
  std::size_t data_start_ = 0;
  std::map<std::string, tensor_info, std::less<>> tensors_;
  std::map<std::string, std::string, std::less<>> metadata_;
  bool allow_non_finite_ = false;
};

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
