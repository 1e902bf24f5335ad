// Must not compile: a decoder<> with factorised embeddings (embedding_size
// != d_model) and its LM head tied to the E-wide token embedding.
#include <autodidact/models/decoder.hpp>

constexpr autodidact::model_config factorised = [] {
  autodidact::model_config c = autodidact::tiny_decoder;
  c.embedding_size = 16;
  return c;
}();

int main() {
  autodidact::models::decoder<factorised, autodidact::f32> model(1, 8);
  return model.max_batch();
}
