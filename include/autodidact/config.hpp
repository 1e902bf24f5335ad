#pragma once
// Model configurations: the architecture only, as a structural type that is
// passed as a template argument (encoder<minilm_l6, f32>). Training
// hyper-parameters (dropout, learning rates) are run-time options elsewhere.

#include <cstddef>  // for std::size_t

namespace autodidact {

// Which GELU a feed-forward layer uses: BERT's exact erf form or GPT-2's
// tanh approximation ("gelu_new").
enum class gelu_kind { erf, tanh };

// Where LayerNorm sits in a block: after the residual add (BERT, "post") or
// before each sub-layer (GPT-2, "pre"). Only the block's internal order:
// the embedding and final LayerNorms, the attention mask and the family
// are fields of their own.
enum class norm_placement { post, pre };

// Which positions a token attends to: all (BERT, encoder<>) or those up to
// its own (GPT-2, decoder<>). It also decides the conventions of a family:
// bidirectional models initialise and name their weights as BERT does,
// causal ones as GPT-2 does.
enum class attention_kind { bidirectional, causal };

struct model_config {
  int vocab = 0;          // V: vocabulary size
  int max_positions = 0;  // learned position embeddings; bounds T
  int d_model = 0;        // C: hidden width
  int heads = 0;          // H: attention heads; D = C / H
  int d_ff = 0;           // feed-forward inner width
  int layers = 0;         // L: transformer blocks
  int type_vocab = 0;     // segment (token type) vocabulary; 0 = none
  double layer_norm_eps = 1e-12;
  gelu_kind gelu = gelu_kind::erf;
  norm_placement norm = norm_placement::post;
  bool tied_lm_head = true;  // LM head shares the token embedding matrix
  bool pooler = true;        // tanh(W h[CLS] + b) on top of an encoder
  attention_kind attention = attention_kind::bidirectional;
  bool embedding_norm = true;  // LayerNorm over the summed embeddings (BERT)
  bool final_norm = false;     // LayerNorm after the last block (GPT-2's ln_f)
  // E: width of the token, position and segment embeddings (and of their
  // LayerNorm); 0 = d_model. When E != d_model the embeddings are
  // factorised as ELECTRA's (and ALBERT's): a Linear(E → C) projects them
  // into the blocks, and a tied MLM head maps C → E before the decoder.
  int embedding_size = 0;

  constexpr int head_dim() const { return heads > 0 ? d_model / heads : 0; }
  constexpr int embedding_width() const { return embedding_size > 0 ? embedding_size : d_model; }
  constexpr bool factorised_embeddings() const { return embedding_width() != d_model; }
  friend constexpr bool operator==(const model_config&, const model_config&) = default;
};

// ---------------------------------------------------------------------------
// Validity. Each rule is a separate static_assert with a sentence, so the
// compiler says which one failed; valid_config<C> is the same rules as a
// concept for constraining templates.

template <model_config C>
concept valid_config =
    C.vocab > 0 && C.max_positions > 0 && C.d_model > 0 && C.heads > 0 && C.d_ff > 0 && C.layers > 0 &&
    C.type_vocab >= 0 && C.d_model % C.heads == 0 && C.layer_norm_eps > 0.0 && C.embedding_size >= 0;

namespace detail {
template <model_config C>
struct config_checks {
  static_assert(C.vocab > 0,
                "autodidact: model_config.vocab must be positive (a model needs at least one token).");
  static_assert(C.max_positions > 0,
                "autodidact: model_config.max_positions must be positive (it bounds the sequence length).");
  static_assert(C.d_model > 0, "autodidact: model_config.d_model must be positive.");
  static_assert(C.heads > 0, "autodidact: model_config.heads must be positive.");
  static_assert(
      C.heads <= 0 || C.d_model % C.heads == 0,
      "autodidact: model_config.heads must divide d_model (each head gets d_model / heads channels).");
  static_assert(C.d_ff > 0, "autodidact: model_config.d_ff must be positive.");
  static_assert(C.layers > 0, "autodidact: model_config.layers must be positive.");
  static_assert(C.type_vocab >= 0,
                "autodidact: model_config.type_vocab must not be negative (0 means no segment embeddings).");
  static_assert(C.layer_norm_eps > 0.0, "autodidact: model_config.layer_norm_eps must be positive.");
  static_assert(C.embedding_size >= 0,
                "autodidact: model_config.embedding_size must not be negative (0 means d_model).");
  static constexpr bool value = true;
};
}  // namespace detail

// Use in a model: static_assert(check_config<C>()) reports the failing rule
// with its own sentence, then the summary below.
template <model_config C>
consteval bool check_config() {
  static_assert(detail::config_checks<C>::value);
  static_assert(valid_config<C>, "autodidact: the model_config is invalid (see the messages above).");
  return true;
}

// ---------------------------------------------------------------------------
// Presets.

// BERT-base uncased: 12 layers, 768 wide, 12 heads, post-LN, erf GELU.
inline constexpr model_config bert_base{.vocab = 30522,
                                        .max_positions = 512,
                                        .d_model = 768,
                                        .heads = 12,
                                        .d_ff = 3072,
                                        .layers = 12,
                                        .type_vocab = 2,
                                        .layer_norm_eps = 1e-12,
                                        .gelu = gelu_kind::erf,
                                        .norm = norm_placement::post,
                                        .tied_lm_head = true,
                                        .pooler = true};

// all-MiniLM-L6-v2 (sentence-transformers): a 6-layer BERT, 384 wide.
inline constexpr model_config minilm_l6{.vocab = 30522,
                                        .max_positions = 512,
                                        .d_model = 384,
                                        .heads = 12,
                                        .d_ff = 1536,
                                        .layers = 6,
                                        .type_vocab = 2,
                                        .layer_norm_eps = 1e-12,
                                        .gelu = gelu_kind::erf,
                                        .norm = norm_placement::post,
                                        .tied_lm_head = true,
                                        .pooler = true};

// GPT-2 small: 12 layers, 768 wide, pre-LN, tanh GELU, tied head, no segments.
inline constexpr model_config gpt2_small{.vocab = 50257,
                                         .max_positions = 1024,
                                         .d_model = 768,
                                         .heads = 12,
                                         .d_ff = 3072,
                                         .layers = 12,
                                         .type_vocab = 0,
                                         .layer_norm_eps = 1e-5,
                                         .gelu = gelu_kind::tanh,
                                         .norm = norm_placement::pre,
                                         .tied_lm_head = true,
                                         .pooler = false,
                                         .attention = attention_kind::causal,
                                         .embedding_norm = false,
                                         .final_norm = true};

// Tiny configurations for tests and examples (odd sizes on purpose).
inline constexpr model_config tiny_encoder{.vocab = 97,
                                           .max_positions = 40,
                                           .d_model = 80,
                                           .heads = 5,
                                           .d_ff = 136,
                                           .layers = 3,
                                           .type_vocab = 2,
                                           .layer_norm_eps = 1e-12,
                                           .gelu = gelu_kind::erf,
                                           .norm = norm_placement::post,
                                           .tied_lm_head = true,
                                           .pooler = true};

inline constexpr model_config tiny_decoder{.vocab = 101,
                                           .max_positions = 48,
                                           .d_model = 64,
                                           .heads = 4,
                                           .d_ff = 256,
                                           .layers = 2,
                                           .type_vocab = 0,
                                           .layer_norm_eps = 1e-5,
                                           .gelu = gelu_kind::tanh,
                                           .norm = norm_placement::pre,
                                           .tied_lm_head = true,
                                           .pooler = false,
                                           .attention = attention_kind::causal,
                                           .embedding_norm = false,
                                           .final_norm = true};

// ---------------------------------------------------------------------------
// Parameter counts (constexpr; equal to Hugging Face's for the same model).

namespace detail {
constexpr std::size_t sz(int v) {
  return static_cast<std::size_t>(v);
}
}  // namespace detail

// Weights of one transformer block: fused QKV (C x 3C + 3C), output
// projection (C x C + C), two LayerNorms (2 x 2C), feed-forward
// (C x F + F, F x C + C).
constexpr std::size_t block_parameter_count(const model_config& c) {
  using detail::sz;
  const std::size_t d = sz(c.d_model), f = sz(c.d_ff);
  return (d * 3 * d + 3 * d) + (d * d + d) + 2 * (2 * d) + (d * f + f) + (f * d + d);
}

// Embeddings (token, position, segment, E wide), their LayerNorm, the
// projection E → C of factorised embeddings and the final LayerNorm when
// the config has them.
constexpr std::size_t embedding_parameter_count(const model_config& c) {
  using detail::sz;
  const std::size_t d = sz(c.d_model), e = sz(c.embedding_width());
  return sz(c.vocab) * e + sz(c.max_positions) * e + sz(c.type_vocab) * e + (c.embedding_norm ? 2 * e : 0) +
         (c.factorised_embeddings() ? e * d + d : 0) + (c.final_norm ? 2 * d : 0);
}

// The body (BertModel / GPT2Model), with the pooler when the config has one.
constexpr std::size_t parameter_count(const model_config& c) {
  using detail::sz;
  const std::size_t d = sz(c.d_model);
  return embedding_parameter_count(c) + sz(c.layers) * block_parameter_count(c) + (c.pooler ? d * d + d : 0);
}

}  // namespace autodidact
