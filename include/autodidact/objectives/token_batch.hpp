#pragma once
// A batch of B windows of T tokens as the objectives take it: the ids, the
// segment ids and real lengths the model reads, the per-token flags masking
// reads, and each window's index in its epoch's stream (with the epoch, it
// keys the masking draws). A data pipeline batch (data/batch.hpp) converts
// with token_batch_of(batch).

#include <cstdint>  // for std::int32_t, std::uint8_t, std::uint64_t
#include <span>     // for std::span

#include "autodidact/core/error.hpp"  // for require
#include "autodidact/data/batch.hpp"  // for data::batch

namespace autodidact::objectives {

struct token_batch {
  std::span<const std::int32_t> ids;              // [B, T]
  std::span<const std::int32_t> segments;         // [B, T], or empty (all 0)
  std::span<const std::int32_t> lengths;          // [B] real tokens (right padding), or empty (all T)
  std::span<const std::uint8_t> special;          // [B, T] 1 = never masked (special tokens, padding)
  std::span<const std::uint8_t> word_start;       // [B, T] first piece of a word, or empty
  std::span<const std::uint64_t> window_indices;  // [B] window index in the epoch's stream
  int batch = 0;                                  // B
  int seq = 0;                                    // T
};

// A view of a data pipeline batch (it must outlive the view).
inline token_batch token_batch_of(const data::batch& b) {
  return {b.ids, b.segments, b.lengths, b.special, b.word_start, b.index, b.size, b.seq};
}

// Sizes consistent with B x T (what each objective needs of a batch).
inline void check_token_batch(const token_batch& b, const char* who, bool needs_masking_fields) {
  require(b.batch >= 1 && b.seq >= 1, who, ": the batch is ", b.batch, " x ", b.seq, ", expected at least 1 x 1");
  const std::size_t n = static_cast<std::size_t>(b.batch) * static_cast<std::size_t>(b.seq);
  require(b.ids.size() == n, who, ": ids holds ", b.ids.size(), " tokens, expected batch x seq = ", n);
  require(b.segments.empty() || b.segments.size() == n, who, ": segments holds ", b.segments.size(),
          " entries, expected ", n, " (or none)");
  require(b.lengths.empty() || b.lengths.size() == static_cast<std::size_t>(b.batch), who, ": lengths holds ",
          b.lengths.size(), " entries, expected batch = ", b.batch, " (or none)");
  if (!needs_masking_fields) return;
  require(b.special.size() == n, who, ": special holds ", b.special.size(), " flags, expected ", n);
  require(b.word_start.empty() || b.word_start.size() == n, who, ": word_start holds ", b.word_start.size(),
          " flags, expected ", n, " (or none)");
  require(b.window_indices.size() == static_cast<std::size_t>(b.batch), who, ": window_indices holds ",
          b.window_indices.size(), " entries, expected batch = ", b.batch);
}

}  // namespace autodidact::objectives
