// Must not compile: a typed linear layer storing bf16 weights (the layers
// run in f32 or f64 so far).
#include <autodidact/layers/typed/linear.hpp>

int main() {
  autodidact::layers::linear<16, 16, autodidact::bf16w> head;
  (void)head;
}
