// Must not compile: a negative embedding_size.
#include <autodidact/models/encoder.hpp>

constexpr autodidact::model_config bad = [] {
  autodidact::model_config c = autodidact::tiny_encoder;
  c.embedding_size = -1;
  return c;
}();

int main() {
  autodidact::models::encoder<bad, autodidact::f32> model(1, 8);
  return model.max_batch();
}
