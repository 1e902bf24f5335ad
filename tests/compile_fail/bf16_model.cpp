// Must not compile: a model with bf16 weight storage (not supported yet).
#include <autodidact/models/encoder.hpp>

int main() {
  autodidact::models::encoder<autodidact::tiny_encoder, autodidact::bf16w> model(1, 8);
  return model.max_batch();
}
