// Must not compile: a typed linear layer with a zero-width input.
#include <autodidact/layers/typed/linear.hpp>

int main() {
  autodidact::layers::linear<0, 16> head;
  (void)head;
}
