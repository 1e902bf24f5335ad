// Counting replacements of global operator new (all forms) and the C
// allocator (malloc, calloc, realloc, aligned_alloc, posix_memalign,
// memalign, valloc, pvalloc), forwarding to glibc's own allocator; see
// tests/models/test_no_allocation.cpp for what they count and why.
// Include it in exactly ONE translation unit of an executable (a
// replacement must be defined once), and only in builds without
// sanitizers (ASan replaces the same functions).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <dlfcn.h>  // for dlsym
#include <link.h>   // for dl_iterate_phdr

// The replacements pair malloc/aligned_alloc with free, which GCC cannot
// see through.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// glibc's allocator under its internal names (exported by libc.so.6 since
// GLIBC_2.2.5): what malloc & co. forward to.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
void __libc_free(void* p);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};             // by anything but libgomp
std::atomic<long> gomp_allocations{0};        // by libgomp itself (see the top)
std::uintptr_t gomp_begin = 0, gomp_end = 0;  // libgomp's mapped segments

// The caller's address decides whose allocation it is.
inline void count(void* caller) noexcept {
  if (!counting.load(std::memory_order_relaxed)) return;
  const auto a = reinterpret_cast<std::uintptr_t>(caller);
  (a >= gomp_begin && a < gomp_end ? gomp_allocations : allocations).fetch_add(1, std::memory_order_relaxed);
}

// Finds the address range of the shared object that holds omp_get_num_threads
// (nothing when the test runs without OpenMP). Called before any window.
void find_libgomp() {
  static bool done = false;
  if (done) return;
  done = true;
  void* symbol = dlsym(RTLD_DEFAULT, "omp_get_num_threads");
  if (symbol == nullptr) return;
  struct range {
    std::uintptr_t symbol, begin, end;
  } r{reinterpret_cast<std::uintptr_t>(symbol), 0, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* r = static_cast<range*>(data);
        std::uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          const std::uintptr_t b = info->dlpi_addr + ph.p_vaddr;
          lo = b < lo ? b : lo;
          hi = b + ph.p_memsz > hi ? b + ph.p_memsz : hi;
        }
        if (r->symbol < lo || r->symbol >= hi) return 0;
        r->begin = lo;
        r->end = hi;
        return 1;
      },
      &r);
  gomp_begin = r.begin;
  gomp_end = r.end;
}
// Counts what happens between construction and stop().
struct window {
  long before, gomp_before;
  window() {
    find_libgomp();
    before = allocations.load();
    gomp_before = gomp_allocations.load();
    counting.store(true);
  }
  long stop() {
    counting.store(false);
    return allocations.load() - before;
  }
  long gomp() const { return gomp_allocations.load() - gomp_before; }
};
}  // namespace

// The C allocator, counted and forwarded to glibc.
extern "C" {
void* malloc(std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_realloc(p, size);
}
void free(void* p) {
  __libc_free(p);
}
void* memalign(std::size_t align, std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_memalign(align, size);
}
void* aligned_alloc(std::size_t align, std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_memalign(align, size);
}
int posix_memalign(void** out, std::size_t align, std::size_t size) {
  count(__builtin_return_address(0));
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(align, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) {
  count(__builtin_return_address(0));
  return __libc_pvalloc(size);
}
}

// operator new, counted once (not again through malloc).
void* operator new(std::size_t size) {
  count(__builtin_return_address(0));
  if (void* p = __libc_malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  count(__builtin_return_address(0));
  return __libc_malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return operator new(size, std::nothrow);
}
void* operator new(std::size_t size, std::align_val_t align) {
  count(__builtin_return_address(0));
  if (void* p = __libc_memalign(static_cast<std::size_t>(align), size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return operator new(size, align);
}
void operator delete(void* p) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  __libc_free(p);
}
