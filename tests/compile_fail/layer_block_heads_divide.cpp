// Must not compile: a typed block whose heads do not divide its width.
#include <autodidact/layers/typed/block.hpp>

using bad_block = autodidact::layers::block<48, 7, 96>;
static_assert(bad_block::parameter_elements > 0);
int main() {}
