#pragma once
// layers::embedding<Vocab, Positions, C, P, Segments>: the sum of token,
// learned-position and (Segments > 0) segment embeddings as a type
// (layers/embedding.hpp's math).
//
//   layers::embedding<8000, 64, 128> emb;          // owns the tables [8000, 128], [64, 128]
//   emb.forward({ids, positions, nullptr, n}, x);  // x [n, 128]
//   emb.backward({ids, positions, nullptr, n}, dx);  // scatter-adds into the tables' gradients
//
// Its table is models::embeddings_module's for a config without the
// embedding LayerNorm (its two entries are absent: compose a
// layers::layernorm for BERT's), so names, shapes and the initialisation
// (token row 0, BERT's [PAD], starts at zero) are the models'.

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                   // for model_config
#include "autodidact/layers/embedding.hpp"         // for embedding_params, embedding_forward, embedding_backward
#include "autodidact/layers/typed/parameters.hpp"  // for layer_parameters, plan_parameters, layer_init
#include "autodidact/models/modules.hpp"           // for embeddings_module
#include "autodidact/precision.hpp"                // for f32, precision_policy

namespace autodidact::layers {

template <int Vocab, int Positions, int C, precision_policy P = f32, int Segments = 0>
class embedding : public layer_parameters<typename detail::layer_precision<P>::type, models::embeddings_module::count> {
  static_assert(Vocab > 0, "autodidact: layers::embedding needs Vocab > 0 (at least one token).");
  static_assert(Positions > 0, "autodidact: layers::embedding needs Positions > 0 (it bounds the sequence length).");
  static_assert(C > 0, "autodidact: layers::embedding needs C > 0 (the embedding width must be positive).");
  static_assert(Segments >= 0, "autodidact: layers::embedding needs Segments >= 0 (0 means no segment table).");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int vocab = Vocab, positions = Positions, channels = C, segments = Segments;

  using module = models::embeddings_module;
  enum param : std::size_t {
    token = module::token,
    position = module::position,
    segment = module::segment,
    count = module::count  // (the LayerNorm entries of the module are absent)
  };
  static constexpr model_config config{
      .vocab = Vocab, .max_positions = Positions, .d_model = C, .type_vocab = Segments, .embedding_norm = false};
  static constexpr std::array<models::param_spec, count> table() { return module::parameters(config); }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;

  explicit embedding(const layer_init& init = {}) : base(plan, init, "layers::embedding") {}
  embedding(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::embedding") {}

  embedding_params<T> params() const {
    return {this->param_ptr(token), this->param_ptr(position), this->param_ptr(segment), Vocab, Positions, Segments, C};
  }
  embedding_grads<T> grads() const { return {this->grad_ptr(token), this->grad_ptr(position), this->grad_ptr(segment)}; }

  // out[n, C] = tok[ids] + pos[positions] (+ seg[segments]).
  void forward(const embedding_input& in, T* out) const { embedding_forward(params(), in, out); }
  // Scatter-adds dout[n, C] into the tables' gradients (unless frozen).
  void backward(const embedding_input& in, const T* dout) { embedding_backward(params(), grads(), in, dout); }

 private:
  using base = layer_parameters<T, count>;
};

}  // namespace autodidact::layers
