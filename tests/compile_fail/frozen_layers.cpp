// Must not compile: more frozen layers than the model has.
#include <autodidact/models/memory_plan.hpp>

using plan = autodidact::models::memory_plan<autodidact::tiny_encoder, autodidact::f32,
                                             autodidact::models::training_policy{.freeze_embeddings = true,
                                                                                 .frozen_layers = 9}>;
static_assert(plan::gradient_bytes > 0);
int main() {}
