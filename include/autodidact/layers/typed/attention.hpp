#pragma once
// layers::attention<C, Heads, P, Kind>: multi-head self-attention with a
// fused QKV projection as a type (layers/attention.hpp's math),
// bidirectional with a padding mask (BERT) or causal (GPT-2).
//
//   layers::attention<64, 4> att;                  // owns Wqkv [192, 64], Wproj [64, 64], biases, gradients
//   layers::attention<64, 4>::workspace w(B, T);   // QKV, P (or its logsumexp), context, backward scratch
//   att.forward(w, {B, T, lengths}, x, y);         // y [B·T, 64] (+ residual when given)
//   att.backward(w, {B, T, lengths}, x, dy, dx);
//
// Its table is part of models::block_module's: qkv.weight [3C, C],
// qkv.bias [3C], proj.weight [C, C], proj.bias [C].

#include <array>    // for std::array
#include <cstddef>  // for std::size_t
#include <span>     // for std::span

#include "autodidact/config.hpp"                   // for attention_kind, model_config
#include "autodidact/core/error.hpp"               // for require
#include "autodidact/layers/attention.hpp"         // for attention_params, attention_forward, attention_backward
#include "autodidact/layers/dropout.hpp"           // for dropout_site
#include "autodidact/layers/typed/parameters.hpp"  // for layer_parameters, plan_parameters, table_part
#include "autodidact/models/modules.hpp"           // for block_module
#include "autodidact/precision.hpp"                // for f32, precision_policy

namespace autodidact::layers {

template <int C, int Heads, precision_policy P = f32, attention_kind Kind = attention_kind::bidirectional>
class attention : public layer_parameters<typename detail::layer_precision<P>::type, 4> {
  static_assert(C > 0, "autodidact: layers::attention<C, Heads> needs C > 0 (the width must be positive).");
  static_assert(Heads > 0, "autodidact: layers::attention<C, Heads> needs Heads > 0 (at least one head).");
  static_assert(Heads <= 0 || C % Heads == 0,
                "autodidact: layers::attention<C, Heads> needs Heads to divide C (each head gets C / Heads "
                "channels).");

 public:
  using value_type = typename detail::layer_precision<P>::type;
  using T = value_type;
  static constexpr int channels = C, heads = Heads, head_dim = C / (Heads > 0 ? Heads : 1);
  static constexpr attention_kind kind = Kind;

  using module = models::block_module;
  enum param : std::size_t { qkv_weight, qkv_bias, proj_weight, proj_bias, count };
  // The same order as the module's entries.
  static_assert(std::size_t(module::qkv_bias) == std::size_t(module::qkv_weight) + qkv_bias &&
                std::size_t(module::proj_weight) == std::size_t(module::qkv_weight) + proj_weight &&
                std::size_t(module::proj_bias) == std::size_t(module::qkv_weight) + proj_bias);
  static constexpr std::array<models::param_spec, count> table() {
    return table_part<module::qkv_weight, count>(module::parameters(model_config{.d_model = C, .heads = Heads}));
  }
  static constexpr parameter_plan<T, count> plan = plan_parameters<T>(table());
  static constexpr std::size_t parameter_elements = plan.elements;

  // What forward saves (QKV [N, 3C], the probabilities [B, H, T, T] — or
  // without attention dropout only their logsumexp —, the context [N, C])
  // and backward's scratch (dctx [N, C], dQKV [N, 3C], dP [B, H, T, T]),
  // for up to max_batch sequences of max_seq tokens.
  class workspace {
   public:
    workspace(int max_batch, int max_seq) : max_batch_(max_batch), max_seq_(max_seq) {
      require(max_batch > 0 && max_seq > 0, "layers::attention::workspace: max_batch = ", max_batch,
              " and max_seq = ", max_seq, " must be positive");
      memory_.allocate([this](auto& c) { carve(c); }, "layers::attention::workspace");
    }
    int max_batch() const noexcept { return max_batch_; }
    int max_seq() const noexcept { return max_seq_; }
    attention_cache<T> cache() const noexcept { return {qkv_, probs_, context_}; }

   private:
    friend class attention;
    void carve(typename workspace_memory<T>::carver& c) {
      const std::size_t n = std::size_t(max_batch_) * std::size_t(max_seq_);
      const std::size_t tt = std::size_t(max_batch_) * Heads * std::size_t(max_seq_) * std::size_t(max_seq_);
      qkv_ = c.take(3 * n * C);
      probs_ = c.take(tt);
      context_ = c.take(n * C);
      dctx_ = c.take(n * C);
      dqkv_ = c.take(3 * n * C);
      dprobs_ = c.take(tt);
    }
    int max_batch_, max_seq_;
    workspace_memory<T> memory_;
    T *qkv_ = nullptr, *probs_ = nullptr, *context_ = nullptr, *dctx_ = nullptr, *dqkv_ = nullptr,
      *dprobs_ = nullptr;
  };

  explicit attention(const layer_init& init = {}) : base(plan, init, "layers::attention") {}
  attention(std::span<T> params, std::span<T> grads) : base(plan, params, grads, "layers::attention") {}

  attention_params<T> params() const {
    attention_params<T> p;
    p.qkv = {this->param_ptr(qkv_weight), this->param_ptr(qkv_bias), C, 3 * C};
    p.proj = {this->param_ptr(proj_weight), this->param_ptr(proj_bias), C, C};
    p.heads = Heads;
    p.causal = Kind == attention_kind::causal;
    return p;
  }
  attention_grads<T> grads() const {
    return {{this->grad_ptr(qkv_weight), this->grad_ptr(qkv_bias)}, {this->grad_ptr(proj_weight), this->grad_ptr(proj_bias)}};
  }

  // y[N, C] = attention(x[N, C]) (+ residual[N, C] when not null), N = B·T.
  void forward(workspace& w, const attention_shape& s, const T* x, T* y, const T* residual = nullptr,
               const dropout_site& attn_drop = {}) const {
    check_shape(w, s);
    attention_forward(params(), s, x, w.cache(), y, residual, attn_drop);
  }
  // Parameter gradients += ... (unless frozen), dx[N, C] += ... (unless null);
  // x is forward's input, the same dropout site as forward's.
  void backward(workspace& w, const attention_shape& s, const T* x, const T* dy, T* dx,
                const dropout_site& attn_drop = {}) {
    check_shape(w, s);
    attention_backward(params(), grads(), s, x, w.cache(), dy, dx, w.dctx_, w.dqkv_, w.dprobs_, attn_drop);
  }

 private:
  using base = layer_parameters<T, count>;
  static void check_shape(const workspace& w, const attention_shape& s) {
    require(s.batch > 0 && s.batch <= w.max_batch() && s.seq > 0 && s.seq <= w.max_seq(), "layers::attention: ",
            s.batch, " sequences of ", s.seq, " tokens, the workspace holds up to ", w.max_batch(), " of ",
            w.max_seq());
  }
};

}  // namespace autodidact::layers
