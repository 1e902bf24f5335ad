#pragma once
// The error hierarchy. Every run-time failure (files, token ids, lengths,
// shapes) throws a type derived from autodidact::error whose message names
// what is wrong and the expected vs actual value. With exceptions disabled
// (-fno-exceptions) the same message goes to a handler that does not return.

#include <cstdio>       // for std::fputs
#include <cstdlib>      // for std::abort
#include <sstream>      // for std::ostringstream
#include <stdexcept>    // for std::runtime_error
#include <string>       // for std::string
#include <type_traits>  // for std::is_same_v, std::is_base_of_v
#include <utility>      // for std::forward

namespace autodidact {

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define AUTODIDACT_EXCEPTIONS 1
#else
#define AUTODIDACT_EXCEPTIONS 0
#endif

// Base of every exception autodidact throws.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

// A function argument is out of its documented range (a batch larger than
// the plan, a token id outside the vocabulary, a sequence that is too long).
class invalid_argument : public error {
 public:
  using error::error;
};

// Two shapes that must agree do not (a tensor in a checkpoint, a view).
class shape_error : public error {
 public:
  using error::error;
};

// A file could not be opened, read or written.
class io_error : public error {
 public:
  using error::error;
};

// A file was read but its content is malformed (bad magic, bad JSON,
// out-of-bounds offsets, wrong dtype).
class format_error : public error {
 public:
  using error::error;
};

// A checkpoint or configuration does not match the model type.
class config_mismatch : public error {
 public:
  using error::error;
};

// Input text that cannot be tokenized as asked (invalid UTF-8 with the
// strict policy, an unknown special token).
class tokenizer_error : public error {
 public:
  using error::error;
};

// Memory for a model's arenas, workspace or optimizer could not be
// allocated (the message names what and how many bytes). Raised instead of
// std::bad_alloc, so a too-large max_batch is reported with its sizes.
class allocation_error : public error {
 public:
  using error::error;
};

// A value that must be finite is NaN or infinite: a gradient norm
// (optim::adamw refuses the step), a layer's output when a forward was
// asked to check (workspace::set_check_finite).
class numeric_error : public error {
 public:
  using error::error;
};

// What happens to an error when exceptions are disabled: the handler gets
// the error's kind and message and must not return.
using error_handler = void (*)(const char* kind, const char* message);

namespace detail {
[[noreturn]] inline void default_error_handler(const char* kind, const char* message) {
  std::fputs("autodidact: ", stderr);
  std::fputs(kind, stderr);
  std::fputs(": ", stderr);
  std::fputs(message, stderr);
  std::fputs("\n", stderr);
  std::abort();
}
inline error_handler& current_error_handler() {
  static error_handler handler = nullptr;
  return handler;
}
template <class E>
constexpr const char* error_kind() {
  if constexpr (std::is_same_v<E, invalid_argument>)
    return "invalid_argument";
  else if constexpr (std::is_same_v<E, shape_error>)
    return "shape_error";
  else if constexpr (std::is_same_v<E, io_error>)
    return "io_error";
  else if constexpr (std::is_same_v<E, format_error>)
    return "format_error";
  else if constexpr (std::is_same_v<E, config_mismatch>)
    return "config_mismatch";
  else if constexpr (std::is_same_v<E, tokenizer_error>)
    return "tokenizer_error";
  else if constexpr (std::is_same_v<E, allocation_error>)
    return "allocation_error";
  else if constexpr (std::is_same_v<E, numeric_error>)
    return "numeric_error";
  else
    return "error";
}
}  // namespace detail

// Installs a handler used when exceptions are disabled; returns the old one.
// A handler that returns is followed by std::abort().
inline error_handler set_error_handler(error_handler handler) {
  error_handler old = detail::current_error_handler();
  detail::current_error_handler() = handler;
  return old;
}

// Raises an error of type E with the message made from the arguments
// (streamed in order): throws it, or, without exceptions, calls the handler.
template <class E = error, class... Parts>
[[noreturn]] void raise(Parts&&... parts) {
  static_assert(std::is_base_of_v<error, E>, "raise<E> needs E derived from autodidact::error.");
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
#if AUTODIDACT_EXCEPTIONS
  throw E(message.str());
#else
  if (error_handler handler = detail::current_error_handler()) {
    handler(detail::error_kind<E>(), message.str().c_str());
  }
  detail::default_error_handler(detail::error_kind<E>(), message.str().c_str());
#endif
}

// Checks a run-time precondition; raises E with the message if it fails.
template <class E = invalid_argument, class... Parts>
void require(bool condition, Parts&&... parts) {
  if (!condition) [[unlikely]]
    raise<E>(std::forward<Parts>(parts)...);
}

}  // namespace autodidact
