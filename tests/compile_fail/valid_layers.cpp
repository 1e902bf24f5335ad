// The control of the layer tests: valid typed layers compile (so those
// tests fail for the reason they name, not for a broken include path).
#include <autodidact/layers/typed/attention.hpp>
#include <autodidact/layers/typed/block.hpp>
#include <autodidact/layers/typed/linear.hpp>

int main() {
  autodidact::layers::attention<64, 4> attention;
  autodidact::layers::linear<16, 2> head;
  using ok_block = autodidact::layers::block<48, 6, 96>;
  static_assert(ok_block::parameter_elements > 0);
  (void)attention;
  (void)head;
}
