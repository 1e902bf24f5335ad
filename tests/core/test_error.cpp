// The error hierarchy: types, messages and require().
#include <catch2/catch.hpp>

#include <autodidact/core/error.hpp>

namespace core_error_tests {  // tests/CMakeLists.txt: one translation unit per folder

using namespace autodidact;

TEST_CASE("raise builds the message from its parts and throws the named type", "[error]") {
  CHECK_THROWS_AS(raise<format_error>("x"), format_error);
  CHECK_THROWS_AS(raise<format_error>("x"), error);
  CHECK_THROWS_AS(raise<io_error>("x"), std::runtime_error);
  CHECK_THROWS_WITH(raise<shape_error>("tensor 'w': expected ", 3, " rows, got ", 4),
                    "tensor 'w': expected 3 rows, got 4");
}

TEST_CASE("require raises only when the condition fails", "[error]") {
  CHECK_NOTHROW(require(true, "never"));
  CHECK_THROWS_AS(require(false, "token id ", 7, " is outside the vocabulary of ", 5), invalid_argument);
  CHECK_THROWS_WITH(require<tokenizer_error>(false, "bad byte at ", 12), "bad byte at 12");
}

TEST_CASE("the error handler can be replaced and restored", "[error]") {
  error_handler previous = set_error_handler([](const char*, const char*) {});
  CHECK(set_error_handler(previous) != nullptr);
}

}  // namespace core_error_tests
