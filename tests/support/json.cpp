// The one translation unit of the test programs that compiles
// nlohmann-json's parser and serializer (io/json.hpp explains why): every
// other test TU is built with AUTODIDACT_SEPARATE_JSON and only declares them.
#define AUTODIDACT_JSON_IMPLEMENTATION
#include "autodidact/io/json.hpp"
