# Finds autodidact's library dependencies. Used by the source tree and by the
# installed autodidact-config.cmake, so a consumer gets the same targets.
include(CMakeFindDependencyMacro)
find_dependency(xtl CONFIG)
find_dependency(xtensor 0.24 CONFIG)
find_dependency(xsimd 8.1 CONFIG)
# range-v3's version file demands an exact match: ask for no version.
find_dependency(range-v3 CONFIG)
find_dependency(nlohmann_json 3 CONFIG)
find_dependency(PkgConfig)
if(NOT TARGET autodidact_utf8proc)
  pkg_check_modules(AUTODIDACT_UTF8PROC REQUIRED IMPORTED_TARGET GLOBAL libutf8proc)
  add_library(autodidact_utf8proc INTERFACE IMPORTED GLOBAL)
  set_target_properties(autodidact_utf8proc PROPERTIES
    INTERFACE_LINK_LIBRARIES PkgConfig::AUTODIDACT_UTF8PROC)
endif()
# Random123 is header-only and lives in the default include path.
find_path(AUTODIDACT_RANDOM123_INCLUDE_DIR Random123/philox.h REQUIRED)
