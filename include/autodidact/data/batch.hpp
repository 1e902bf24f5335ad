#pragma once
// B windows collated into flat row-major arrays, the model's input plus
// what the corruption stage (objectives/) needs: word starts for whole-word
// masking, the special flags of tokens it must never touch, and each
// window's index in the epoch's unshuffled stream, which keys the masker's
// draws (seed, epoch, index) so that masking does not depend on the batch
// a window lands in, the thread count, the shard or the resume point.
//
//   data::batch b;
//   data::collate(windows_range, b);   // or pipeline.next(b)
//   models::batch_input in{b.ids, b.segments, b.lengths, b.size, b.seq};
//
// The last batch of an epoch may hold fewer rows (size < the batch size
// asked for) unless the pipeline drops it.

#include <cstddef>           // for std::size_t
#include <cstdint>           // for std::int32_t, std::uint8_t, std::uint64_t
#include <initializer_list>  // for the loops over the member vectors in clear()
#include <vector>            // for std::vector

#include "autodidact/core/error.hpp"    // for autodidact::require, shape_error
#include "autodidact/data/windows.hpp"  // for window

namespace autodidact::data {

struct batch {
  std::vector<std::int32_t> ids;         // [B, T] token ids
  std::vector<std::int32_t> segments;    // [B, T] segment ids
  std::vector<std::int32_t> lengths;     // [B] real tokens of each row (right padding)
  std::vector<std::uint8_t> word_start;  // [B, T] 1 where a word starts
  std::vector<std::uint8_t> special;  // [B, T] 1 for [CLS], separators, padding, special tokens: never masked
  std::vector<std::uint64_t> index;   // [B] each row's window index in the epoch's unshuffled stream
  std::vector<std::int32_t> a_begin, a_end, b_begin, b_end;  // [B] sentence pairs: where A and B are (else 0)
  std::vector<std::uint8_t> b_follows;  // [B] sentence pairs: 1 if B follows A in its document
  std::uint64_t epoch = 0;              // the epoch the rows come from
  int size = 0;                         // B: rows in this batch
  int seq = 0;                          // T

  // Empties the batch for rows of T tokens (keeps the buffers).
  void clear(int t) {
    for (auto* v : {&ids, &segments, &lengths, &a_begin, &a_end, &b_begin, &b_end}) v->clear();
    for (auto* v : {&word_start, &special, &b_follows}) v->clear();
    index.clear();
    size = 0;
    seq = t;
  }

  // Appends one window as the next row.
  void push_back(const window& w) {
    if (size == 0 && seq == 0) seq = static_cast<int>(w.size());
    require<shape_error>(w.size() == static_cast<std::size_t>(seq), "data: a window of ", w.size(),
                         " tokens in a batch of rows of T = ", seq,
                         ": expected every window to have T tokens");
    ids.insert(ids.end(), w.ids.begin(), w.ids.end());
    segments.insert(segments.end(), w.segments.begin(), w.segments.end());
    word_start.insert(word_start.end(), w.word_start.begin(), w.word_start.end());
    special.insert(special.end(), w.special.begin(), w.special.end());
    lengths.push_back(w.length);
    index.push_back(w.index);
    a_begin.push_back(w.a_begin);
    a_end.push_back(w.a_end);
    b_begin.push_back(w.b_begin);
    b_end.push_back(w.b_end);
    b_follows.push_back(w.b_follows);
    ++size;
  }

  bool empty() const noexcept { return size == 0; }
};

// Collates a range of windows (all of T tokens) into `out`, replacing its rows.
template <class Range>
void collate(Range&& windows, batch& out) {
  out.clear(0);
  for (const window& w : windows) out.push_back(w);
}

}  // namespace autodidact::data
