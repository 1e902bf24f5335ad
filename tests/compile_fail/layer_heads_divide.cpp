// Must not compile: a typed attention layer whose heads do not divide its width.
#include <autodidact/layers/typed/attention.hpp>

int main() {
  autodidact::layers::attention<64, 5> attention;  // 64 channels cannot be split into 5 heads
  (void)attention;
}
