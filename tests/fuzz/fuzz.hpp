#pragma once
// What every fuzz harness shares. A harness is a namespace with
//   void init();                        // once, before the first input
//   void one_input(std::string_view);   // one input
// registered by AUTODIDACT_FUZZ_HARNESS(namespace). one_input may throw
// autodidact::error (a clean rejection of a bad input: caught here); any
// other exception escapes and is a finding (libFuzzer reports a deadly
// signal, the replay driver terminates), as is a sanitizer report, a crash,
// a timeout or an out-of-memory.
//
// Built two ways (tests/fuzz/CMakeLists.txt):
//   - with clang and -fsanitize=fuzzer, each harness is its own libFuzzer
//     executable (the macro defines LLVMFuzzerInitialize and
//     LLVMFuzzerTestOneInput);
//   - otherwise (AUTODIDACT_FUZZ_REPLAY_ALL) every harness is compiled into
//     one replay program (replay.cpp) that feeds it the files of
//     tests/fuzz/corpus/<harness>/.

#include <cstddef>      // for std::size_t
#include <cstdint>      // for std::uint8_t
#include <cstdio>       // for std::fprintf
#include <cstdlib>      // for std::abort
#include <string_view>  // for std::string_view

#include "autodidact/core/error.hpp"  // for autodidact::error

namespace autodidact::fuzz {

// Runs one input, swallowing autodidact::error only.
template <class F>
void run_one(F&& f, std::string_view input) {
  try {
    f(input);
  } catch (const autodidact::error&) {
    // a clean rejection
  }
}

// Stops the process when an invariant of a result does not hold (a finding).
#define AUTODIDACT_FUZZ_CHECK(cond)                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

#if defined(AUTODIDACT_FUZZ_REPLAY_ALL)
struct harness_entry {
  const char* name;
  void (*init)();
  void (*one_input)(std::string_view);
};
inline harness_entry* harness_table() {
  static harness_entry table[32];
  return table;
}
inline std::size_t& harness_count() {
  static std::size_t n = 0;
  return n;
}
inline bool register_harness(const char* name, void (*init)(), void (*one)(std::string_view)) {
  harness_table()[harness_count()++] = {name, init, one};
  return true;
}
#define AUTODIDACT_FUZZ_HARNESS(ns)                                                                         \
  namespace ns {                                                                                            \
  inline void run(std::string_view input) { ::autodidact::fuzz::run_one(one_input, input); }             \
  inline const bool registered = ::autodidact::fuzz::register_harness(#ns, init, run);                    \
  }
#else
#define AUTODIDACT_FUZZ_HARNESS(ns)                                                                          \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                                                      \
    ns::init();                                                                                              \
    return 0;                                                                                                \
  }                                                                                                          \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {                      \
    ::autodidact::fuzz::run_one(ns::one_input, std::string_view(reinterpret_cast<const char*>(data), size)); \
    return 0;                                                                                                \
  }
#endif

}  // namespace autodidact::fuzz
