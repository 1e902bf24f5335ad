// Must not compile: a precision policy computes in a floating-point type.
#include <autodidact/precision.hpp>

using bad = autodidact::precision<float, int, float>;
static_assert(sizeof(bad) > 0);
int main() {}
