#pragma once
// Embeddings: the sum of token, learned-position and (optional) segment
// embeddings of each token.
//
//   forward   e[n] = tok[id[n]] + pos[t(n)] + seg[segment[n]]
//   backward  dtok[id[n]] += de[n], dpos[t(n)] += de[n], dseg[segment[n]] += de[n]
//
// PyTorch: BertEmbeddings (without its LayerNorm, which is a separate
// layer here) and GPT-2's wte(ids) + wpe(positions).

#include <cstdint>  // for std::int32_t

#include "autodidact/kernels/common.hpp"     // for write_mode
#include "autodidact/kernels/embedding.hpp"  // for embedding_forward, embedding_backward

namespace autodidact::layers {

template <class T>
struct embedding_params {
  const T* token = nullptr;     // [V, C]
  const T* position = nullptr;  // [P, C]
  const T* segment = nullptr;   // [S, C], or null without segments
  int vocab = 0, positions = 0, segments = 0, channels = 0;
};

template <class T>
struct embedding_grads {
  T* token = nullptr;  // null when frozen
  T* position = nullptr;
  T* segment = nullptr;
};

// What the lookup needs: for N tokens, their ids, positions and segments.
struct embedding_input {
  const std::int32_t* ids = nullptr;        // [N]
  const std::int32_t* positions = nullptr;  // [N]
  const std::int32_t* segments = nullptr;   // [N], or null (all segment 0)
  int n = 0;
};

// out[N, C] = tok[ids] + pos[positions] (+ seg[segments]).
template <class T>
void embedding_forward(const embedding_params<T>& p, const embedding_input& in, T* out) {
  using kernels::write_mode;
  kernels::embedding_forward(in.n, p.channels, in.ids, p.token, p.vocab, out, write_mode::overwrite);
  kernels::embedding_forward(in.n, p.channels, in.positions, p.position, p.positions, out,
                             write_mode::accumulate);
  if (p.segment && in.segments) {
    kernels::embedding_forward(in.n, p.channels, in.segments, p.segment, p.segments, out,
                               write_mode::accumulate);
  }
}

template <class T>
void embedding_backward(const embedding_params<T>& p, const embedding_grads<T>& g, const embedding_input& in,
                        const T* dout) {
  if (g.token) kernels::embedding_backward(in.n, p.channels, in.ids, dout, p.vocab, g.token);
  if (g.position) kernels::embedding_backward(in.n, p.channels, in.positions, dout, p.positions, g.position);
  if (g.segment && p.segment && in.segments) {
    kernels::embedding_backward(in.n, p.channels, in.segments, dout, p.segments, g.segment);
  }
}

}  // namespace autodidact::layers
