#pragma once
// layers::block<C, Heads, F, P, Options>: a Transformer block as a type
// (layers/block.hpp's math), post-LN (BERT) or pre-LN (GPT-2):
//
//   layers::block<64, 4, 256> b;                   // BERT's block (bert_block options), owning
//   layers::block<64, 4, 256>::workspace w(B, T);  // everything forward saves, backward's scratch
//   const float* y = b.forward(w, {B, T, lengths}, x);   // [B·T, 64]
//   b.backward(w, {B, T, lengths}, x, dy, dx);
//
//   layers::block<768, 12, 3072, f32, layers::gpt2_block> g;   // causal, pre-LN, tanh GELU, ε 1e-5
//
// Its table is models::block_module's, so its memory is laid out exactly
// as one block of a model's parameter arena: a block can be bound to block
// l of an encoder's arena (model.parameters().subspan(layout.blocks[l].begin,
// parameter_elements)) and computes what the model computes. Its parts are
// typed layers bound into the block's memory: ln1(), attn(), ln2(), ff().
//
// The models' blocks are these (models/detail/block_stack.hpp): each block l
// is bound to its range of the model's parameter arena and of a workspace's
// gradient arena, and runs in the caller's memory — the overloads taking a
// block_cache (and, for backward, a block_scratch) whose slots are the
// model workspace's activations — with the model's packed weights
// (block_packed), dropout sites, and, for a team of threads over token
// rows, forward in three phases (forward_before_heads, forward_heads,
// forward_after_heads).

#include <array>    // for std::array
#include <cstddef>  // for std::size_t, std::ptrdiff_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                     // for attention_kind, norm_placement, gelu_kind
#include "autodidact/core/error.hpp"                 // for require
#include "autodidact/layers/block.hpp"               // for block_params, block_forward, block_backward
#include "autodidact/layers/typed/attention.hpp"     // for layers::attention
#include "autodidact/layers/typed/feed_forward.hpp"  // for layers::feed_forward
#include "autodidact/layers/typed/layernorm.hpp"     // for layers::layernorm
#include "autodidact/layers/typed/parameters.hpp"    // for layer_parameters, plan_parameters
#include "autodidact/models/modules.hpp"             // for block_module
#include "autodidact/precision.hpp"                  // for f32, precision_policy

namespace autodidact::layers {

// What a block's type fixes besides its sizes (a structural type: a
// template argument). The defaults are BERT's.
struct block_options {
  attention_kind attention = attention_kind::bidirectional;
  norm_placement norm = norm_placement::post;
  gelu_kind gelu = gelu_kind::erf;
  double eps = 1e-12;  // LayerNorm ε
  friend constexpr bool operator==(const block_options&, const block_options&) = default;
};
inline constexpr block_options bert_block{};
inline constexpr block_options gpt2_block{.attention = attention_kind::causal,
                                          .norm = norm_placement::pre,
                                          .gelu = gelu_kind::tanh,
                                          .eps = 1e-5};
// The packed copies of a block's four matrices (kernels::pack_b's layout,
// linear_params::weight_packed), each or all null: forward then packs on
// the fly, with bitwise the same result. Backward always reads the weights.
template <class T>
struct block_packed {
  const T* qkv = nullptr;   // [C, 3C] packed
  const T* proj = nullptr;  // [C, C] packed
  const T* ff1 = nullptr;   // [C, F] packed
  const T* ff2 = nullptr;   // [F, C] packed
};

// A model config's block options.
constexpr block_options block_options_of(const model_config& c) noexcept {
  return {c.attention, c.norm, c.gelu, c.layer_norm_eps};
}

template <int C, int Heads, int F, precision_policy P = f32, block_options Options = bert_block>
class block : public layer_parameters<typename detail::layer_precision<P>::type, models::block_module::count> {
  static_assert(C > 0, "autodidact: layers::block<C, Heads, F> needs C > 0 (the width must be positive).");
  static_assert(Heads > 0, "autodidact: layers::block<C, Heads, F> needs Heads > 0 (at least one head).");
  static_assert(Heads <= 0 || C % Heads == 0,
                "autodidact: layers::block<C, Heads, F> needs Heads to divide C (each head gets C / Heads "
                "channels).");
  static_assert(F > 0, "autodidact: layers::block<C, Heads, F> needs F > 0 (the feed-forward width must be positive).");
  static_assert(Options.eps > 0.0, "autodidact: layers::block's LayerNorm epsilon must be positive.");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int channels = C, heads = Heads, inner = F;
  static constexpr block_options options = Options;

  // The parts, typed layers themselves.
  using layernorm_type = layers::layernorm<C, P, Options.eps>;
  using attention_type = layers::attention<C, Heads, P, Options.attention>;
  using feed_forward_type = layers::feed_forward<C, F, P, Options.gelu>;

  using module = models::block_module;
  using param = module::param;
  static constexpr model_config config{.d_model = C, .heads = Heads, .d_ff = F};
  static constexpr std::array<models::param_spec, module::count> table() { return module::parameters(config); }
  static constexpr parameter_plan<T, module::count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;
  // Each part's table is a run of the block's, laid out the same way.
  static_assert(plan.offsets[module::ln1_bias] - plan.offsets[module::ln1_gain] + aligned_count<T>(C) ==
                    layernorm_type::parameter_elements &&
                plan.offsets[module::ln2_gain] - plan.offsets[module::qkv_weight] == attention_type::parameter_elements &&
                plan.elements - plan.offsets[module::ff1_weight] == feed_forward_type::parameter_elements);

  // Everything forward saves (layers::block_cache) and backward's scratch
  // (layers::block_scratch), for up to max_batch sequences of max_seq tokens.
  class workspace {
   public:
    workspace(int max_batch, int max_seq) : max_batch_(max_batch), max_seq_(max_seq) {
      require(max_batch > 0 && max_seq > 0, "layers::block::workspace: max_batch = ", max_batch,
              " and max_seq = ", max_seq, " must be positive");
      memory_.allocate([this](auto& c) { carve(c); }, "layers::block::workspace");
    }
    int max_batch() const noexcept { return max_batch_; }
    int max_seq() const noexcept { return max_seq_; }
    const block_cache<T>& cache() const noexcept { return cache_; }
    const block_scratch<T>& scratch() const noexcept { return scratch_; }
    // The block's output [N, C] of the last forward.
    const T* output() const noexcept { return cache_.output(Options.norm); }

   private:
    void carve(typename workspace_memory<T>::carver& c) {
      const std::size_t n = std::size_t(max_batch_) * std::size_t(max_seq_);
      const std::size_t tt = std::size_t(max_batch_) * Heads * std::size_t(max_seq_) * std::size_t(max_seq_);
      cache_.ln1 = c.take(n * C);
      cache_.ln1_mean = c.take(n);
      cache_.ln1_rstd = c.take(n);
      cache_.attention = {c.take(3 * n * C), c.take(tt), c.take(n * C)};
      cache_.residual1 = c.take(n * C);
      cache_.ln2 = c.take(n * C);
      cache_.ln2_mean = c.take(n);
      cache_.ln2_rstd = c.take(n);
      cache_.ff = {c.take(n * F), c.take(n * F)};
      cache_.residual2 = c.take(n * C);
      scratch_ = {c.take(n * C), c.take(n * C), c.take(n * C), c.take(n * C), c.take(3 * n * C),
                  c.take(n * F), c.take(tt),    c.take(C),     c.take(C)};
    }
    int max_batch_, max_seq_;
    workspace_memory<T> memory_;
    block_cache<T> cache_{};
    block_scratch<T> scratch_{};
  };

  explicit block(const layer_init& init = {}) : base(plan, init, "layers::block"), parts_(bind_parts()) {}
  block(std::span<T> params, std::span<T> grads)
      : base(plan, params, grads, "layers::block"), parts_(bind_parts()) {}
  // Moving keeps the parts valid: they view heap or caller memory, not the object.

  const layernorm_type& ln1() const noexcept { return parts_.ln1; }
  const attention_type& attn() const noexcept { return parts_.attn; }
  const layernorm_type& ln2() const noexcept { return parts_.ln2; }
  const feed_forward_type& ff() const noexcept { return parts_.ff; }

  block_params<T> params() const {
    block_params<T> p;
    p.ln1 = parts_.ln1.params();
    p.ln2 = parts_.ln2.params();
    p.attention = parts_.attn.params();
    p.ff = parts_.ff.params();
    p.norm = Options.norm;
    return p;
  }
  // The same, with the packed copies of the matrices (forward's GEMMs read them).
  block_params<T> params(const block_packed<T>& packed) const {
    block_params<T> p = params();
    p.attention.qkv.weight_packed = packed.qkv;
    p.attention.proj.weight_packed = packed.proj;
    p.ff.in.weight_packed = packed.ff1;
    p.ff.out.weight_packed = packed.ff2;
    return p;
  }
  block_grads<T> grads() const {
    block_grads<T> g;
    g.ln1 = parts_.ln1.grads();
    g.ln2 = parts_.ln2.grads();
    g.attention = parts_.attn.grads();
    g.ff = parts_.ff.grads();
    return g;
  }

  // Runs the block on x[N, C] (N = B·T); returns its output [N, C] (in w).
  const T* forward(workspace& w, const attention_shape& s, const T* x, const block_dropout& drop = {}) const {
    check_shape(w, s);
    return forward(w.cache(), s, x, drop);
  }
  // Parameter gradients += ... (unless frozen), dx[N, C] += ... from dy[N, C],
  // the gradient of the output; x is forward's input, drop forward's sites.
  void backward(workspace& w, const attention_shape& s, const T* x, const T* dy, T* dx,
                const block_dropout& drop = {}) {
    check_shape(w, s);
    backward(w.cache(), w.scratch(), s, x, dy, dx, drop);
  }

  // In the caller's memory (a model's blocks): `cache` holds what forward
  // saves for s.batch · s.seq tokens (a model workspace's block slots),
  // `scratch` backward's scratch; `packed` the model's packed matrices.
  // Returns the output [N, C] (in cache).
  const T* forward(const block_cache<T>& cache, const attention_shape& s, const T* x, const block_dropout& drop = {},
                   const block_packed<T>& packed = {}) const {
    block_forward(params(packed), s, x, cache, drop);
    return cache.output(Options.norm);
  }
  // forward in phases, for a team of threads each owning token rows
  // [r0, r1) (on the GEMM's row-tile grid, so any split gives the same
  // bits) that meets before and after the heads:
  //   forward_before_heads  rows [r0, r1): pre-LN's LN1, the QKV projection
  //   forward_heads         every (batch, head); team: called by every thread of the team
  //   forward_after_heads   rows [r0, r1): projection + residual, LayerNorms, feed-forward
  void forward_before_heads(const block_cache<T>& cache, int r0, int r1, const T* x,
                            const block_packed<T>& packed = {}) const {
    block_forward_before_heads(params(packed), r0, r1, x, cache);
  }
  void forward_heads(const block_cache<T>& cache, const attention_shape& s, const block_dropout& drop = {},
                     bool team = false) const {
    attention_heads_forward(parts_.attn.params(), s, cache.attention, drop.attention, team);
  }
  void forward_after_heads(const block_cache<T>& cache, int r0, int r1, const T* x, const block_dropout& drop = {},
                           const block_packed<T>& packed = {}) const {
    block_forward_after_heads(params(packed), r0, r1, x, cache, drop);
  }
  // backward in the caller's memory: forward's cache, and scratch for
  // s.batch · s.seq tokens.
  void backward(const block_cache<T>& cache, const block_scratch<T>& scratch, const attention_shape& s, const T* x,
                const T* dy, T* dx, const block_dropout& drop = {}) {
    block_backward(params(), grads(), s, x, cache, dy, dx, scratch, drop);
  }

 private:
  using base = layer_parameters<T, module::count>;
  struct parts {
    layernorm_type ln1;
    attention_type attn;
    layernorm_type ln2;
    feed_forward_type ff;
  };
  // The part whose table starts at entry `first`, bound into this block's memory.
  template <class Layer>
  Layer part(std::size_t first) const {
    return Layer(this->param_span(first, Layer::parameter_elements), this->grad_span(first, Layer::parameter_elements));
  }
  parts bind_parts() const {
    return {part<layernorm_type>(module::ln1_gain), part<attention_type>(module::qkv_weight),
            part<layernorm_type>(module::ln2_gain), part<feed_forward_type>(module::ff1_weight)};
  }
  static void check_shape(const workspace& w, const attention_shape& s) {
    require(s.batch > 0 && s.batch <= w.max_batch() && s.seq > 0 && s.seq <= w.max_seq(), "layers::block: ",
            s.batch, " sequences of ", s.seq, " tokens, the workspace holds up to ", w.max_batch(), " of ",
            w.max_seq());
  }
  parts parts_;  // bound into this block's memory (bind_parts())
};

}  // namespace autodidact::layers
