#pragma once
// Arenas: one flat, 64-byte-aligned buffer per kind of model state
// (parameters, gradients, optimizer moments, activations). Arenas own; the
// views handed out by layers borrow. The storage is chosen by the user:
//   heap_storage<T>          allocated once, at construction
//   borrowed_storage<T>      memory the caller owns (checked for size and alignment)
//   static_storage<T, N>     a compile-time-sized block for a static object
// Nothing Transformer-sized lives on the stack: static_storage refuses to be
// a local variable only by convention, so declare it `static` (see docs).

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::uintptr_t
#include <cstring>      // for std::memset
#include <memory>       // for std::unique_ptr
#include <new>          // for std::align_val_t, std::nothrow, operator new
#include <span>         // for std::span
#include <string_view>  // for std::string_view
#include <type_traits>  // for std::is_trivially_copyable_v
#include <utility>      // for std::move

#if defined(__linux__)
#include <sys/mman.h>  // for madvise, MADV_HUGEPAGE
#endif

#include "autodidact/core/error.hpp"  // for autodidact::require, raise, allocation_error

namespace autodidact {

inline constexpr std::size_t arena_alignment = 64;  // one cache line; any SIMD width

// Rounds n elements of T up so the next block starts on an aligned boundary.
template <class T>
constexpr std::size_t aligned_count(std::size_t n) {
  constexpr std::size_t per_line = arena_alignment / sizeof(T) > 0 ? arena_alignment / sizeof(T) : 1;
  return (n + per_line - 1) / per_line * per_line;
}

// Blocks of at least this many bytes are aligned to 2 MiB and, on Linux,
// offered to the kernel as transparent huge pages (madvise): a training
// step walks its activations, gradients and moments in MB-sized strides,
// and with 4 KiB pages each new page is a TLB miss. Where the system's
// transparent_hugepage setting is `never`, the advice is ignored.
inline constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;
inline constexpr std::size_t huge_page_threshold = 2 * huge_page_bytes;

namespace detail {
// The alignment a block of `bytes` bytes is allocated with.
constexpr std::size_t arena_block_alignment(std::size_t bytes) noexcept {
  return bytes >= huge_page_threshold ? huge_page_bytes : arena_alignment;
}
struct aligned_delete {
  std::size_t alignment = arena_alignment;
  void operator()(void* p) const noexcept { ::operator delete (p, std::align_val_t{alignment}); }
};
}  // namespace detail

// Allocates `count` zeroed elements of T aligned to arena_alignment, or
// raises allocation_error naming `what`, the element count and the bytes
// (never std::bad_alloc: an absurd size is a library error with its sizes,
// with or without exceptions).
template <class T>
T* allocate_zeroed(std::size_t count, std::string_view what) {
  if (count == 0) return nullptr;
  if (count > static_cast<std::size_t>(-1) / sizeof(T)) {
    raise<allocation_error>(what, ": ", count, " elements of ", sizeof(T),
                            " bytes overflow the address space (more than 2^64 bytes)");
  }
  const std::size_t bytes = count * sizeof(T);
  const std::size_t alignment = detail::arena_block_alignment(bytes);
  void* p = ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
  if (p == nullptr) {
    raise<allocation_error>(what, ": cannot allocate ", count, " elements of ", sizeof(T), " bytes = ", bytes,
                            " bytes (", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0), " GiB)");
  }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Before the first touch (the memset below), so the pages come huge.
  if (alignment == huge_page_bytes) (void)madvise(p, bytes / huge_page_bytes * huge_page_bytes, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, bytes);
  return static_cast<T*>(p);
}

template <class T>
class heap_storage {
  static_assert(std::is_trivially_copyable_v<T>, "autodidact: arena elements must be trivially copyable.");

 public:
  heap_storage() = default;
  // `what` names the memory in an allocation_error ("model parameters", ...).
  explicit heap_storage(std::size_t count, std::string_view what = "arena")
      : data_(allocate_zeroed<T>(count, what), detail::aligned_delete{detail::arena_block_alignment(count * sizeof(T))}),
        size_(count) {}
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }

 private:
  std::unique_ptr<T, detail::aligned_delete> data_;
  std::size_t size_ = 0;
};

template <class T>
class borrowed_storage {
 public:
  borrowed_storage() = default;
  // The caller's memory must hold at least `required` elements and be
  // aligned to arena_alignment bytes; it must outlive the arena.
  borrowed_storage(std::span<T> memory, std::size_t required) : data_(memory.data()), size_(required) {
    require(memory.size() >= required, "borrowed_storage: the caller's buffer holds ", memory.size(),
            " elements but the plan needs ", required);
    require(reinterpret_cast<std::uintptr_t>(memory.data()) % arena_alignment == 0,
            "borrowed_storage: the caller's buffer must be aligned to ", arena_alignment, " bytes (address ",
            static_cast<const void*>(memory.data()), ")");
  }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// A compile-time-sized block. Declare it with static storage duration
// (`static static_storage<float, plan::parameter_count> weights;`).
template <class T, std::size_t N>
struct static_storage {
  alignas(arena_alignment) T values[N];
  T* data() noexcept { return values; }
  const T* data() const noexcept { return values; }
  static constexpr std::size_t size() noexcept { return N; }
};

// An empty block (an arena a plan sizes to nothing: the gradients of an
// inference-only model).
template <class T>
struct static_storage<T, 0> {
  T* data() noexcept { return nullptr; }
  const T* data() const noexcept { return nullptr; }
  static constexpr std::size_t size() noexcept { return 0; }
};

// A non-owning window onto N elements somewhere (caller or static storage).
template <class T>
struct storage_ref {
  T* ptr = nullptr;
  std::size_t count = 0;
  T* data() noexcept { return ptr; }
  const T* data() const noexcept { return ptr; }
  std::size_t size() const noexcept { return count; }
};

// An arena: a flat buffer of T from one of the storages above.
template <class T, class Storage = heap_storage<T>>
class arena {
 public:
  using value_type = T;
  arena() = default;
  // `count` zeroed elements on the heap; a failed allocation raises
  // allocation_error naming `what` and the bytes.
  explicit arena(std::size_t count, std::string_view what = "arena") requires std::is_same_v<Storage, heap_storage<T>>
      : storage_(count, what) {}
  explicit arena(Storage storage) : storage_(std::move(storage)) {}

  T* data() noexcept { return storage_.data(); }
  const T* data() const noexcept { return storage_.data(); }
  std::size_t size() const noexcept { return storage_.size(); }
  std::span<T> span() noexcept { return {data(), size()}; }
  std::span<const T> span() const noexcept { return {data(), size()}; }

  // The `count` elements at `offset` (bounds checked).
  std::span<T> slice(std::size_t offset, std::size_t count) {
    require(offset + count <= size(), "arena: slice [", offset, ", ", offset + count,
            ") exceeds the arena size ", size());
    return {data() + offset, count};
  }
  void zero() noexcept {
    if (size() != 0) std::memset(static_cast<void*>(data()), 0, size() * sizeof(T));
  }

 private:
  Storage storage_;
};

}  // namespace autodidact
