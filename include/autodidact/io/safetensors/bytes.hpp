#pragma once
// The bytes of a safetensors file (part of io/safetensors.hpp): an
// immutable buffer shared by every copy of a safetensors_file, either read
// into memory or memory-mapped (POSIX mmap, read-only, private), and the
// functions that make one from a path, raising io_error naming the path.

#include <cstddef>       // for std::byte, std::size_t
#include <filesystem>    // for std::filesystem::path, status, exists, is_directory
#include <fstream>       // for std::ifstream
#include <memory>        // for std::shared_ptr, std::make_shared
#include <span>          // for std::span
#include <system_error>  // for std::error_code
#include <utility>       // for std::move
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

#include "autodidact/core/error.hpp"  // for autodidact::raise, io_error

namespace autodidact::io {

namespace detail {

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

}  // namespace autodidact::io
