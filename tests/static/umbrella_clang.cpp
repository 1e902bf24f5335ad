// static_umbrella_clang: every public header, through the umbrella, parsed
// by Clang (tests/static/CMakeLists.txt), plus one instantiation of each
// kind of template a user writes with a floating-point argument.
#include <autodidact/autodidact.hpp>

using namespace autodidact;
static_assert(layers::layernorm<64, f32, 1e-12>::eps == 1e-12);
static_assert(layers::layernorm<64>::eps == 1e-5);

int main() { return 0; }
