#pragma once
// JSON goes through nlohmann-json. Its parser and serializer are the most
// expensive templates the library instantiates (about 25 s of compile time
// per translation unit under ASan), so every parse and dump goes through the
// two functions below, which a program may compile once:
//   by default they are inline, and the library stays header-only;
//   with AUTODIDACT_SEPARATE_JSON defined in every translation unit, they
//   are only declared, and exactly one translation unit defines them by
//   including this header after `#define AUTODIDACT_JSON_IMPLEMENTATION`
//   (the tests do this: tests/support/json.cpp).

#include <string>       // for std::string
#include <string_view>  // for std::string_view

#include <nlohmann/json.hpp>  // for nlohmann::json

namespace autodidact::detail {

#if defined(AUTODIDACT_SEPARATE_JSON) && !defined(AUTODIDACT_JSON_IMPLEMENTATION)
// Parses `text` (throws nlohmann::json::exception, as nlohmann::json::parse).
nlohmann::json parse_json(std::string_view text);
// The compact text of `value` (as value.dump()).
std::string dump_json(const nlohmann::json& value);
std::string dump_json(const nlohmann::ordered_json& value);
#else
#if defined(AUTODIDACT_SEPARATE_JSON)
#define AUTODIDACT_JSON_LINKAGE
#else
#define AUTODIDACT_JSON_LINKAGE inline
#endif
AUTODIDACT_JSON_LINKAGE nlohmann::json parse_json(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end());
}
AUTODIDACT_JSON_LINKAGE std::string dump_json(const nlohmann::json& value) { return value.dump(); }
AUTODIDACT_JSON_LINKAGE std::string dump_json(const nlohmann::ordered_json& value) { return value.dump(); }
#undef AUTODIDACT_JSON_LINKAGE
#endif

}  // namespace autodidact::detail
