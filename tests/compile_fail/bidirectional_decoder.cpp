// Must not compile: a decoder<> over a bidirectional (BERT-style) config.
#include <autodidact/models/decoder.hpp>

int main() {
  autodidact::models::decoder<autodidact::tiny_encoder, autodidact::f32> model(1, 8);
  return model.max_batch();
}
