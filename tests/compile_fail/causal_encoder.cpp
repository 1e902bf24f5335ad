// Must not compile: an encoder<> over a causal (GPT-2-style) config.
#include <autodidact/models/encoder.hpp>

int main() {
  autodidact::models::encoder<autodidact::tiny_decoder, autodidact::f32> model(1, 8);
  return model.max_batch();
}
