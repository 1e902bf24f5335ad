// Built with -fno-exceptions: a failing check must reach the installed
// handler with the same message an exception would carry. The handler
// prints it and exits 0; CTest matches the message.
#include <autodidact/core/arena.hpp>
#include <autodidact/core/error.hpp>

#include <cstdio>
#include <cstdlib>

static_assert(!AUTODIDACT_EXCEPTIONS, "this test must be compiled with -fno-exceptions");

int main() {
  autodidact::set_error_handler([](const char* kind, const char* message) {
    std::printf("handler got %s: %s\n", kind, message);
    std::exit(0);
  });
  autodidact::arena<float> a(10);
  a.slice(5, 10);  // out of bounds: must not return
  std::printf("the handler was not called\n");
  return 1;
}
