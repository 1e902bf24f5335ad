// Must not compile: pack_weights() on a model whose static_arenas<B, T> has
// no room for the packed copy (it would need the heap, which static storage
// promises never to touch); static_arenas<B, T, with_packed_weights> has it.
#include <autodidact/models/encoder.hpp>

namespace m = autodidact::models;
using model = m::encoder<autodidact::tiny_encoder, autodidact::f32, m::inference_only, m::static_arenas<1, 8>>;
static model encoder;
int main() { encoder.pack_weights(); }
