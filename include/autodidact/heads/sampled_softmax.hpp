#pragma once
// A sampled softmax for the MLM head's tied decoder, for training (Jean et
// al. 2015, "On Using Very Large Target Vocabulary for Neural Machine
// Translation"; Bengio & Senécal 2008). The full head scores all V tokens
// for every labelled row: three V x E products per row, most of a small
// model's step. This one scores a candidate set S instead — every label of
// the batch plus k negatives drawn (with replacement) from a proposal
// q ∝ (count + 1)^power — and estimates the softmax's normaliser from it by
// importance weighting (Horvitz–Thompson):
//
//   Z_r ≈ exp(o_r,y) + Σ_{c ∈ S, c ≠ y} exp(o_r,c) / π_c
//   π_c = 1 − (1 − p_c)^(n − 1) · (1 − q_c)^k
//
// with π_c the probability that token c is a candidate for row r: among the
// other n − 1 rows' labels (p: the label distribution, the counts
// normalised, add-one) or among the k draws, taken as independent. So a
// candidate's logit is lowered by log π_c in every row whose label it is
// not, and the loss is the cross-entropy over S of the lowered logits: its
// gradient is the full softmax's in expectation up to the normaliser's
// ratio estimate. Frequent tokens have π ≈ 1 and are scored as by the full
// head; a rare one is scored when drawn, weighted by 1 / π.
//
// The model does not change: evaluation, inference and export run the full
// head; the sampled loss is a training estimate (lower than the full one).
// With every token a candidate and log π = 0 (set_candidates) it is the
// full head's loss and gradients exactly (a test).
//
//   heads::sampled_softmax<float> s({.negatives = 512, .seed = 7}, counts, max_rows, E);
//   s.draw(labels, step, index);                 // labels [B·T], -100 = none
//   encoder.pretraining_loss(w, labels, s);      // then encoder.backward(w)
//
// objectives::masked_lm does this when given the options
// (masked_lm::use_sampled_softmax). One per thread.

#include <algorithm>  // for std::fill
#include <cmath>      // for std::log, std::log1p, std::expm1, std::pow
#include <cstddef>    // for std::size_t, std::ptrdiff_t
#include <cstdint>    // for std::int32_t, std::uint32_t, std::uint64_t
#include <span>       // for std::span
#include <vector>     // for std::vector

#include "autodidact/core/error.hpp"      // for require
#include "autodidact/core/rng.hpp"        // for philox_rng, rng_stream
#include "autodidact/kernels/common.hpp"  // for default_ignore_index
#include "autodidact/layers/linear.hpp"   // for linear_params, linear_grads, linear_forward, linear_backward

namespace autodidact::heads {

struct sampled_softmax_options {
  int negatives = 512;   // k: draws from the proposal per step (with replacement)
  double power = 0.75;   // proposal q ∝ (count + 1)^power (word2vec's 0.75)
  std::uint64_t seed = 0;
};

template <class T>
class sampled_softmax {
 public:
  // counts[V]: each token's frequency in the training text (the label
  // distribution p and the proposal q are made from them, add-one).
  // max_rows: the most labelled rows a batch has (B·T); e: the decoder's width.
  sampled_softmax(sampled_softmax_options o, std::span<const double> counts, int max_rows, int e)
      : o_(o), v_(static_cast<int>(counts.size())), e_(e), max_rows_(max_rows) {
    require(o.negatives >= 0, "sampled_softmax: negatives = ", o.negatives, " must be >= 0");
    require(o.power >= 0 && std::isfinite(o.power), "sampled_softmax: power = ", o.power, " must be >= 0");
    require(v_ >= 1 && max_rows >= 1 && e >= 1, "sampled_softmax: vocabulary ", v_, ", max_rows ", max_rows,
            " and width ", e, " must be at least 1");
    double total = 0, qtotal = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      require(counts[i] >= 0 && std::isfinite(counts[i]), "sampled_softmax: the count of token ", i, " is ",
              counts[i], "; counts must be finite and >= 0");
      total += counts[i] + 1;
      qtotal += std::pow(counts[i] + 1, o.power);
    }
    log1m_p_.resize(counts.size());
    log1m_q_.resize(counts.size());
    std::vector<double> q(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
      q[i] = std::pow(counts[i] + 1, o.power) / qtotal;
      log1m_p_[i] = std::log1p(-(counts[i] + 1) / total);
      log1m_q_[i] = std::log1p(-q[i]);
    }
    build_alias(q);
    const std::size_t cap = static_cast<std::size_t>(std::min<long long>(v_, static_cast<long long>(max_rows) + o.negatives));
    slot_.assign(counts.size(), -1);
    targets_.resize(static_cast<std::size_t>(max_rows));
    reserve(cap);
  }

  // The candidates for a batch's labels ([B·T], ignore index -100 for the
  // unlabelled): the distinct labels, then the distinct draws, keyed by
  // (seed, step, index) — a batch gets the same ones on any thread count or
  // resume point. Then targets() holds each labelled row's slot, in order.
  void draw(std::span<const std::int32_t> labels, std::uint32_t step, std::uint32_t index) {
    clear();
    int rows = 0;
    for (std::int32_t y : labels) {
      if (y == kernels::default_ignore_index) continue;
      require(y >= 0 && y < v_, "sampled_softmax: label ", y, " is outside the vocabulary of ", v_);
      require(rows < max_rows_, "sampled_softmax: more than max_rows = ", max_rows_, " labelled rows");
      targets_[static_cast<std::size_t>(rows++)] = add(y);
    }
    const philox_rng rng(o_.seed, rng_stream::negatives);
    for (int i = 0; i < o_.negatives; i += 2) {
      const auto u = rng.uniform4(step, index, static_cast<std::uint32_t>(i / 2));
      for (int j = 0; j < 2 && i + j < o_.negatives; ++j) {
        const int c = std::min(v_ - 1, static_cast<int>(static_cast<double>(u[2 * j]) * v_));
        add(u[2 * j + 1] < alias_p_[static_cast<std::size_t>(c)] ? c : alias_[static_cast<std::size_t>(c)]);
      }
    }
    rows_ = rows;
    const double others = rows > 0 ? rows - 1 : 0;
    for (std::size_t s = 0; s < ids_.size(); ++s) {
      const std::size_t c = static_cast<std::size_t>(ids_[s]);
      // log π = log(1 − exp(log P(not a candidate)))
      const double absent = others * log1m_p_[c] + o_.negatives * log1m_q_[c];
      // absent == 0: a candidate only as this row's own label (uncorrected)
      log_pi_.push_back(static_cast<T>(absent == 0 ? 0.0 : std::log(-std::expm1(absent))));
    }
  }

  // Explicit candidates (distinct ids in [0, V) containing every label) and
  // their log π; with all V ids and zeros, the full softmax.
  void set_candidates(std::span<const std::int32_t> labels, std::span<const std::int32_t> ids,
                      std::span<const T> log_pi) {
    require(ids.size() == log_pi.size(), "sampled_softmax: ", ids.size(), " candidates but ", log_pi.size(),
            " log π values");
    clear();
    if (ids.size() > b_.size()) reserve(ids.size());
    for (std::size_t s = 0; s < ids.size(); ++s) {
      require(ids[s] >= 0 && ids[s] < v_ && slot_[static_cast<std::size_t>(ids[s])] < 0,
              "sampled_softmax: candidate ", ids[s], " is repeated or outside the vocabulary of ", v_);
      add(ids[s]);
      log_pi_.push_back(log_pi[s]);
    }
    int rows = 0;
    for (std::int32_t y : labels) {
      if (y == kernels::default_ignore_index) continue;
      require(y >= 0 && y < v_ && slot_[static_cast<std::size_t>(y)] >= 0, "sampled_softmax: label ", y,
              " is not among the candidates");
      require(rows < max_rows_, "sampled_softmax: more than max_rows = ", max_rows_, " labelled rows");
      targets_[static_cast<std::size_t>(rows++)] = slot_[static_cast<std::size_t>(y)];
    }
    rows_ = rows;
  }

  int size() const noexcept { return static_cast<int>(ids_.size()); }  // K
  int rows() const noexcept { return rows_; }                           // labelled rows of the last draw
  int vocab() const noexcept { return v_; }
  int width() const noexcept { return e_; }
  std::span<const std::int32_t> candidates() const noexcept { return ids_; }
  std::span<const T> log_pi() const noexcept { return log_pi_; }
  // Each labelled row's target as a candidate slot [rows()].
  const std::int32_t* targets() const noexcept { return targets_.data(); }

  // logits[n, K] of x[n, E] against the candidates' rows of the decoder
  // (weight [V, E], bias [V]), lowered by log π except at each row's label.
  void forward(const layers::linear_params<T>& decoder, int n, const T* x, T* logits) {
    check(decoder, n);
    const int k = size();
    for (int s = 0; s < k; ++s) {
      const std::size_t c = static_cast<std::size_t>(ids_[static_cast<std::size_t>(s)]);
      std::copy_n(decoder.weight + std::ptrdiff_t(c) * e_, e_, w_.data() + std::ptrdiff_t(s) * e_);
      b_[static_cast<std::size_t>(s)] = (decoder.bias ? decoder.bias[c] : T(0)) - log_pi_[static_cast<std::size_t>(s)];
    }
    layers::linear_forward(gathered(), n, x, logits);
    for (int r = 0; r < n; ++r) {
      const std::int32_t t = targets_[static_cast<std::size_t>(r)];
      logits[std::ptrdiff_t(r) * k + t] += log_pi_[static_cast<std::size_t>(t)];
    }
  }

  // From dlogits[n, K]: accumulates the decoder's gradients (weight [V, E]
  // and bias [V], the candidates' rows) and dx[n, E] (unless null). Uses
  // the rows gathered by the last forward.
  void backward(const layers::linear_params<T>& decoder, const layers::linear_grads<T>& g, int n, const T* x,
                const T* dlogits, T* dx) {
    check(decoder, n);
    const int k = size();
    std::fill_n(dw_.data(), std::ptrdiff_t(k) * e_, T(0));
    std::fill_n(db_.data(), k, T(0));
    layers::linear_backward(gathered(), {g.weight ? dw_.data() : nullptr, g.bias ? db_.data() : nullptr}, n, x,
                            dlogits, dx);
    for (int s = 0; s < k; ++s) {
      const std::size_t c = static_cast<std::size_t>(ids_[static_cast<std::size_t>(s)]);
      if (g.weight) {
        T* dst = g.weight + std::ptrdiff_t(c) * e_;
        const T* src = dw_.data() + std::ptrdiff_t(s) * e_;
        for (int j = 0; j < e_; ++j) dst[j] += src[j];
      }
      if (g.bias) g.bias[c] += db_[static_cast<std::size_t>(s)];
    }
  }

 private:
  layers::linear_params<T> gathered() const { return {w_.data(), b_.data(), e_, size(), nullptr}; }
  void check(const layers::linear_params<T>& decoder, int n) const {
    require(decoder.out == v_ && decoder.in == e_, "sampled_softmax: the decoder is [", decoder.out, ", ",
            decoder.in, "], the sampler was made for [", v_, ", ", e_, "]");
    require(n == rows_, "sampled_softmax: ", n, " rows, but the candidates were drawn for ", rows_,
            " labelled rows");
  }
  // Room for `cap` candidates (draw() never needs more than max_rows + negatives).
  void reserve(std::size_t cap) {
    ids_.reserve(cap);
    log_pi_.reserve(cap);
    w_.resize(cap * static_cast<std::size_t>(e_));
    dw_.resize(w_.size());
    b_.resize(cap);
    db_.resize(cap);
  }
  void clear() {
    for (std::int32_t c : ids_) slot_[static_cast<std::size_t>(c)] = -1;
    ids_.clear();
    log_pi_.clear();
    rows_ = 0;
  }
  std::int32_t add(std::int32_t c) {
    std::int32_t& s = slot_[static_cast<std::size_t>(c)];
    if (s < 0) {
      s = static_cast<std::int32_t>(ids_.size());
      ids_.push_back(c);
    }
    return s;
  }
  // Walker's alias table for q (Vose's construction).
  void build_alias(const std::vector<double>& q) {
    const std::size_t v = q.size();
    alias_p_.assign(v, 1.0f);
    alias_.assign(v, 0);
    std::vector<double> scaled(v);
    std::vector<std::int32_t> small, large;
    for (std::size_t i = 0; i < v; ++i) {
      scaled[i] = q[i] * static_cast<double>(v);
      (scaled[i] < 1 ? small : large).push_back(static_cast<std::int32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const std::int32_t s = small.back(), l = large.back();
      small.pop_back();
      alias_p_[static_cast<std::size_t>(s)] = static_cast<float>(scaled[static_cast<std::size_t>(s)]);
      alias_[static_cast<std::size_t>(s)] = l;
      scaled[static_cast<std::size_t>(l)] -= 1 - scaled[static_cast<std::size_t>(s)];
      if (scaled[static_cast<std::size_t>(l)] < 1) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (std::int32_t i : large) alias_p_[static_cast<std::size_t>(i)] = 1.0f;
    for (std::int32_t i : small) alias_p_[static_cast<std::size_t>(i)] = 1.0f;  // rounding leftovers
  }

  sampled_softmax_options o_;
  int v_, e_, max_rows_, rows_ = 0;
  std::vector<double> log1m_p_, log1m_q_;
  std::vector<float> alias_p_;
  std::vector<std::int32_t> alias_, slot_, ids_, targets_;
  std::vector<T> log_pi_, w_, dw_, b_, db_;
};

}  // namespace autodidact::heads
