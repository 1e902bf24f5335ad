#pragma once
// The one version number of autodidact; CMakeLists.txt reads it from here.
#define AUTODIDACT_VERSION_MAJOR 0
#define AUTODIDACT_VERSION_MINOR 1
#define AUTODIDACT_VERSION_PATCH 0

namespace autodidact {
inline constexpr int version_major = AUTODIDACT_VERSION_MAJOR;
inline constexpr int version_minor = AUTODIDACT_VERSION_MINOR;
inline constexpr int version_patch = AUTODIDACT_VERSION_PATCH;
}  // namespace autodidact
