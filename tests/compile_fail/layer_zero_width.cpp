// Must not compile: a typed linear layer with a zero-width output.
#include <autodidact/layers/typed/linear.hpp>

int main() {
  autodidact::layers::linear<16, 0> head;
  (void)head;
}
