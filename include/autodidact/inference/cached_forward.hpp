#pragma once
// The incremental forward of a decoder<> through a KV cache: new tokens of
// B sequences go through the embeddings and every block, attending to the
// keys and values the cache already holds plus their own (causally); their
// keys and values are appended to the cache, and the logits of each
// sequence's last new token come out. A prompt (prefill, in chunks) and one
// token per step (decoding) are the same call with different counts.
//
//   rows      R = Σ_b count[b] new tokens, packed densely in sequence order
//   per block (the layers of layers/block.hpp on R rows, packed weights):
//             pre-LN LN1, qkv[R, 3C] = x Wqkvᵀ + b
//             K, V rows → cache (sequence b, positions length(b) ...)
//             per (b, h): ctx = softmax(Q Kᵀ/√D, causal, row_offset = length(b)) V
//                         (kernels::attention_cached_forward)
//             projection + residual, LN2, feed-forward + residual
//   then      LN_f on each sequence's last new row, logits[B, V] = LN_f(h) Wᵀ
//
// The full-sequence forward (models/decoder.hpp) is untouched: this path
// reuses its layers and packed weights, so in exact arithmetic it equals
// running forward() on the whole prefix (tests/inference check it).
//
// decode_workspace holds every buffer the call writes; the model stays
// const, so threads can share it, each with its own cache and workspace.

#include <algorithm>  // for std::min, std::max
#include <cmath>    // for std::sqrt
#include <concepts>  // for std::same_as
#include <cstddef>  // for std::byte, std::size_t, std::ptrdiff_t
#include <cstdint>  // for std::int32_t
#include <cstring>  // for std::memcpy
#include <span>     // for std::span

#ifdef _OPENMP
#include <omp.h>  // for omp_get_thread_num, omp_get_num_threads, omp_in_parallel
#endif

#include "autodidact/config.hpp"                 // for model_config
#include "autodidact/core/arena.hpp"             // for arena
#include "autodidact/core/error.hpp"             // for require
#include "autodidact/inference/kv_cache.hpp"     // for kv_cache
#include "autodidact/models/memory_plan.hpp"     // for models::aligned_bytes
#include "autodidact/models/storage.hpp"         // for heap_arenas, borrowed_arenas, static_arenas, policy_arena
#include "autodidact/kernels/attention.hpp"      // for attention_cached_forward
#include "autodidact/core/threading.hpp"         // for detail::parallel_for, gemm_parallel_work, decode_*_work
#include "autodidact/kernels/common.hpp"         // for softmax_mask, to_activation
#include "autodidact/kernels/gemm.hpp"           // for gemm_prepacked, gemm_column_panel
#include "autodidact/layers/block.hpp"           // for block_forward_before_heads, block_forward_after_heads
#include "autodidact/layers/embedding.hpp"       // for embedding_forward
#include "autodidact/layers/layernorm.hpp"       // for layernorm_forward
#include "autodidact/layers/linear.hpp"          // for linear_forward

namespace autodidact::inference {

namespace detail {
// A decode_workspace's elements for max_batch x max_rows: activations
// (x, ln1, context, residual1, ln2, two outputs [R, C]; qkv [R, 3C];
// ff [R, F]; four row statistics [R]; last, last_ln [B, C]; two [B];
// logits [B, V]) and ints (ids, positions [R]; row_begin [B + 1]; + room).
template <model_config C>
constexpr std::size_t decode_activation_elements(int max_batch, int max_rows) {
  const std::size_t b = static_cast<std::size_t>(max_batch), r = b * static_cast<std::size_t>(max_rows);
  const std::size_t c = C.d_model, f = C.d_ff;
  return r * (7 * c + 3 * c + f + 4) + b * (2 * c + 2 + C.vocab);
}
constexpr std::size_t decode_int_elements(int max_batch, int max_rows) {
  const std::size_t b = static_cast<std::size_t>(max_batch), r = b * static_cast<std::size_t>(max_rows);
  return 2 * r + 2 * b + 1;
}
}  // namespace detail

// Everything one cached forward writes, for up to max_batch sequences of up
// to max_rows new tokens each (a prefill chunk; decoding needs 1).
// Storage as for kv_cache (models/storage.hpp): heap (default), a caller
// block of bytes_for(max_batch, max_rows) bytes (borrowed_arenas), or
// inside the object (static_arenas<B, R>: B sequences of up to R rows).
template <model_config C, class T, models::arena_storage_policy Storage = heap_arenas>
class decode_workspace {
 public:
  using storage_policy = Storage;

  // Bytes for max_batch x max_rows (two 64-byte-aligned blocks): what
  // borrowed_arenas needs; about sizeof a static_arenas workspace.
  static constexpr std::size_t bytes_for(int max_batch, int max_rows) {
    return models::aligned_bytes(detail::decode_activation_elements<C>(max_batch, max_rows) * sizeof(T)) +
           models::aligned_bytes(detail::decode_int_elements(max_batch, max_rows) * sizeof(std::int32_t));
  }

  decode_workspace(int max_batch, int max_rows) requires(!std::same_as<Storage, borrowed_arenas>)
      : max_batch_(max_batch),
        max_rows_(max_rows),
        rows_cap_(checked_rows(max_batch, max_rows)),
        acts_(models::detail::owned_arena<act_arena>(detail::decode_activation_elements<C>(max_batch, max_rows),
                                                     "decode_workspace: activations")),
        ints_(models::detail::owned_arena<int_arena>(detail::decode_int_elements(max_batch, max_rows),
                                                     "decode_workspace: token ids")) {}
  // static_arenas<B, R>: B sequences of up to R new rows, inside the object.
  decode_workspace() requires models::is_static_arenas_v<Storage>
      : decode_workspace(Storage::max_batch, Storage::max_seq) {}
  // borrowed_arenas: in `memory` (bytes_for(max_batch, max_rows) bytes from
  // a 64-byte boundary), which the caller keeps alive as long as this.
  decode_workspace(std::span<std::byte> memory, int max_batch, int max_rows)
    requires std::same_as<Storage, borrowed_arenas>
      : max_batch_(max_batch),
        max_rows_(max_rows),
        rows_cap_(checked_rows(max_batch, max_rows)),
        acts_(borrowed_acts(memory, max_batch, max_rows)),
        ints_(models::detail::borrowed_arena<std::int32_t>(
            memory,
            models::aligned_bytes(detail::decode_activation_elements<C>(max_batch, max_rows) * sizeof(T)),
            detail::decode_int_elements(max_batch, max_rows))) {
    acts_.zero();
    ints_.zero();
  }
  decode_workspace(const decode_workspace&) = delete;
  decode_workspace& operator=(const decode_workspace&) = delete;

  int max_batch() const noexcept { return max_batch_; }
  int max_rows() const noexcept { return max_rows_; }
  std::size_t bytes() const noexcept { return acts_.size() * sizeof(T) + ints_.size() * sizeof(std::int32_t); }

  // Logits [V] of sequence b's last token fed by the last cached_forward
  // (valid when b had new tokens in it).
  const T* logits(int b) const noexcept { return logits_ptr() + std::ptrdiff_t(b) * C.vocab; }
  T* logits(int b) noexcept { return logits_ptr() + std::ptrdiff_t(b) * C.vocab; }

  // The buffers, for cached_forward (not for users).
  static int checked_rows(int b, int n) {
    require(b >= 1, "decode_workspace: max_batch = ", b, " must be at least 1");
    require(n >= 1, "decode_workspace: max_rows = ", n, " must be at least 1");
    models::detail::check_static_extent<Storage>("decode_workspace", "max_rows", b, n);
    return b * n;
  }
  T* at(int slot) noexcept {
    const std::size_t r = static_cast<std::size_t>(rows_cap_), c = C.d_model;
    return acts_.data() + static_cast<std::size_t>(slot) * r * c;  // slots 0..6: [R, C]
  }
  T* qkv() noexcept { return at(7); }                                               // [R, 3C]
  T* ff() noexcept { return at(10); }                                               // [R, F]
  T* stats(int i) noexcept { return ff() + std::size_t(rows_cap_) * C.d_ff + std::size_t(i) * rows_cap_; }
  T* last() noexcept { return stats(4); }                                           // [B, C]
  T* last_ln() noexcept { return last() + std::size_t(max_batch_) * C.d_model; }    // [B, C]
  T* last_stats(int i) noexcept { return last_ln() + std::size_t(max_batch_) * C.d_model + i * max_batch_; }
  T* logits_ptr() noexcept { return last_stats(2); }                                 // [B, V]
  const T* logits_ptr() const noexcept { return const_cast<decode_workspace*>(this)->logits_ptr(); }
  std::int32_t* ids() noexcept { return ints_.data(); }
  std::int32_t* positions() noexcept { return ints_.data() + rows_cap_; }
  std::int32_t* row_begin() noexcept { return ints_.data() + 2 * rows_cap_; }  // [B + 1]

 private:
  static auto borrowed_acts(std::span<std::byte> memory, int max_batch, int max_rows) {
    require(max_batch >= 1 && max_rows >= 1, "decode_workspace: max_batch = ", max_batch, " and max_rows = ",
            max_rows, " must be at least 1");
    models::detail::check_borrowed_memory(memory, bytes_for(max_batch, max_rows), "decode_workspace", max_batch,
                                          max_rows, "max_rows");
    return models::detail::borrowed_arena<T>(memory, 0, detail::decode_activation_elements<C>(max_batch, max_rows));
  }
  static constexpr int static_batch = models::detail::static_extent<Storage>::max_batch;
  static constexpr int static_rows = models::detail::static_extent<Storage>::max_seq;
  using act_arena =
      models::detail::policy_arena<T, Storage, detail::decode_activation_elements<C>(static_batch, static_rows)>;
  using int_arena =
      models::detail::policy_arena<std::int32_t, Storage, detail::decode_int_elements(static_batch, static_rows)>;

  int max_batch_, max_rows_, rows_cap_;
  act_arena acts_;
  int_arena ints_;
};

namespace detail {

// Columns [c0, c1) of y[rows, out] = x Wᵀ + b (+ the epilogue), the share
// of thread `tid` of `nt`: whole panels of the packed layout (NR columns),
// so every element is computed exactly as by one thread.
template <class T>
void linear_columns(const layers::linear_params<T>& p, int rows, const T* x, T* y, int tid, int nt,
                    kernels::gemm_epilogue<T> ep = {}) {
  constexpr int nr = kernels::gemm_column_panel<T>;
  const int panels = (p.out + nr - 1) / nr;
  const int c0 = panels * tid / nt * nr, c1 = std::min(p.out, panels * (tid + 1) / nt * nr);
  if (c0 >= c1) return;
  ep.bias = p.bias ? p.bias + c0 : nullptr;
  if (ep.residual) ep.residual += c0;
  if (p.weight_packed) {
    kernels::gemm_prepacked(kernels::transpose::no, rows, c1 - c0, p.in, T(1), x, p.in,
                            p.weight_packed + std::ptrdiff_t(c0) * p.in, kernels::write_mode::overwrite, y + c0, p.out,
                            ep);
  } else {
    kernels::gemm(kernels::transpose::no, kernels::transpose::yes, rows, c1 - c0, p.in, T(1), x, p.in,
                  p.weight + std::ptrdiff_t(c0) * p.in, p.in, kernels::write_mode::overwrite, y + c0, p.out, ep);
  }
}

// Threads for one team over the whole stack when decoding a few rows: all
// of OpenMP's when the block's products are too small for the GEMM to
// split them itself (matrix-vector at batch 1) but a block is still worth
// six meetings of the team (core/threading.hpp's decode_team_work), else 1
// (the kernels then decide alone). Pre-LN blocks only (GPT-2).
inline constexpr double decode_team_min_work = autodidact::detail::decode_team_work;
template <model_config C>
int decode_team_threads(int rows) {
#ifdef _OPENMP
  if (C.norm != norm_placement::pre || omp_in_parallel() || omp_get_max_threads() < 2) return 1;
  const double widest = double(rows) * C.d_model * std::max(3 * C.d_model, C.d_ff);
  const double block = double(rows) * C.d_model * (4.0 * C.d_model + 2.0 * C.d_ff);
  if (block < decode_team_min_work) return 1;
  return widest > autodidact::detail::gemm_parallel_work ? 1 : omp_get_max_threads();
#else
  (void)rows;
  return 1;
#endif
}

}  // namespace detail

// Feeds count[b] new tokens of each sequence b (tokens packed in sequence
// order, Σ count = tokens.size()) at positions cache.length(b) ...; appends
// their keys and values to the cache and advances its lengths; writes
// ws.logits(b) for every b with count[b] > 0 (the others' are undefined).
// Bad input (a count that overflows the cache or the workspace, a token id
// outside the vocabulary) is an invalid_argument naming it.
template <class Model, class CacheStorage, class WorkspaceStorage>
void cached_forward(const Model& model, kv_cache<Model::config, typename Model::T, CacheStorage>& cache,
                    decode_workspace<Model::config, typename Model::T, WorkspaceStorage>& ws,
                    std::span<const std::int32_t> tokens, std::span<const std::int32_t> count) {
  constexpr model_config C = Model::config;
  using T = typename Model::T;
  static_assert(C.attention == attention_kind::causal, "autodidact: cached_forward needs a causal decoder.");
  static_assert(!C.factorised_embeddings() && !C.embedding_norm && C.type_vocab == 0,
                "autodidact: cached_forward supports GPT-2 style decoders (token + position embeddings, no "
                "embedding LayerNorm or projection, no segments).");
  const int batch = static_cast<int>(count.size());
  require(batch >= 1 && batch <= ws.max_batch() && batch <= cache.max_batch(), "cached_forward: batch = ", batch,
          " must be in [1, min(workspace max_batch = ", ws.max_batch(), ", cache max_batch = ", cache.max_batch(),
          ")]");
  std::int32_t* begin = ws.row_begin();
  begin[0] = 0;
  for (int b = 0; b < batch; ++b) {
    const int n = count[static_cast<std::size_t>(b)];
    require(n >= 0 && n <= ws.max_rows(), "cached_forward: ", n, " new tokens for sequence ", b,
            " must be in [0, the workspace's max_rows = ", ws.max_rows(), "]");
    require(cache.length(b) + n <= cache.max_length(), "cached_forward: sequence ", b, " holds ", cache.length(b),
            " positions; ", n, " more exceed the cache's max_length = ", cache.max_length());
    begin[b + 1] = begin[b] + n;
  }
  const int rows = begin[batch];
  require(static_cast<std::size_t>(rows) == tokens.size(), "cached_forward: tokens holds ", tokens.size(),
          " ids, expected the sum of counts = ", rows);
  if (rows == 0) return;
  for (int b = 0; b < batch; ++b) {
    for (int i = begin[b]; i < begin[b + 1]; ++i) {
      const std::int32_t id = tokens[static_cast<std::size_t>(i)];
      require(id >= 0 && id < C.vocab, "cached_forward: token id ", id, " of sequence ", b,
              " is outside the vocabulary [0, ", C.vocab, ")");
      ws.ids()[i] = id;
      ws.positions()[i] = cache.length(b) + (i - begin[b]);
    }
  }

  // Embeddings: x[R, C] = wte[ids] + wpe[positions].
  T* x = ws.at(0);
  layers::embedding_forward(model.embedding_parameters(), {ws.ids(), ws.positions(), nullptr, rows}, x);

  const int c = C.d_model, h_count = C.heads, d = c / h_count;
  const T scale = T(1) / std::sqrt(T(d));
  double head_work = 0;  // multiply-adds of the heads, to decide on threads
  for (int b = 0; b < batch; ++b) head_work += double(begin[b + 1] - begin[b]) * (cache.length(b) + 1) * 2.0 * c;
  const bool parallel_heads = head_work > autodidact::detail::decode_heads_parallel_work;
  // The heads of (b, h) for layer l: K, V of its new rows into the cache,
  // then its new queries over the cached keys 0 .. length + n.
  auto head = [&](int l, int bh, bool copy) {
    const int b = bh / h_count, h = bh % h_count;
    const int n = begin[b + 1] - begin[b];
    if (n == 0) return;
    const int past = cache.length(b);
    if (copy) {
      for (int i = begin[b]; i < begin[b + 1]; ++i) {
        const T* row = ws.qkv() + std::ptrdiff_t(i) * 3 * c + h * d;
        const int pos = past + (i - begin[b]);
        std::memcpy(cache.keys(l, b, pos) + h * d, row + c, sizeof(T) * static_cast<std::size_t>(d));
        std::memcpy(cache.values(l, b, pos) + h * d, row + 2 * c, sizeof(T) * static_cast<std::size_t>(d));
      }
    }
    const kernels::softmax_mask mask{.valid_cols = past + n, .causal = true, .row_offset = past};
    kernels::attention_cached_forward(n, past + n, d, scale, ws.qkv() + std::ptrdiff_t(begin[b]) * 3 * c + h * d,
                                      3 * c, cache.keys(l, b) + h * d, cache.values(l, b) + h * d, c,
                                      ws.at(2) + std::ptrdiff_t(begin[b]) * c + h * d, c, mask);
  };
  const T* in = x;
  const int team = detail::decode_team_threads<C>(rows);
#ifdef _OPENMP
  if (team > 1) {
    // Decoding a few rows: one team for the whole stack, every product split
    // by output columns (whole panels: each element computed as by one
    // thread), the LayerNorms on one thread, the heads shared out; the team
    // meets six times per block.
#pragma omp parallel num_threads(team)
    {
      const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const T* xl = x;
      for (int l = 0; l < C.layers; ++l) {
        const layers::block_params<T> p = model.block_parameters(l);
        T* out = ws.at(5 + (l % 2));
#pragma omp single
        layers::layernorm_forward(p.ln1, rows, xl, ws.at(1), {ws.stats(0), ws.stats(1)});
        detail::linear_columns(p.attention.qkv, rows, ws.at(1), ws.qkv(), tid, nt);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int bh = 0; bh < batch * h_count; ++bh) head(l, bh, true);
        detail::linear_columns(p.attention.proj, rows, ws.at(2), ws.at(3), tid, nt,
                               kernels::gemm_epilogue<T>{.residual = xl, .ldr = c});
#pragma omp barrier
#pragma omp single
        layers::layernorm_forward(p.ln2, rows, ws.at(3), ws.at(4), {ws.stats(2), ws.stats(3)});
        detail::linear_columns(p.ff.in, rows, ws.at(4), ws.ff(), tid, nt,
                               kernels::gemm_epilogue<T>{.act = kernels::to_activation(p.ff.gelu)});
#pragma omp barrier
        detail::linear_columns(p.ff.out, rows, ws.ff(), out, tid, nt,
                               kernels::gemm_epilogue<T>{.residual = ws.at(3), .ldr = c});
#pragma omp barrier
        xl = out;
      }
    }
    in = ws.at(5 + ((C.layers - 1) % 2));
  }
#endif
  for (int l = 0; l < C.layers && team <= 1; ++l) {
    const layers::block_params<T> p = model.block_parameters(l);
    layers::block_cache<T> bc;
    bc.ln1 = ws.at(1);
    bc.ln1_mean = ws.stats(0);
    bc.ln1_rstd = ws.stats(1);
    bc.attention = {ws.qkv(), nullptr, ws.at(2)};
    bc.residual1 = ws.at(3);
    bc.ln2 = ws.at(4);
    bc.ln2_mean = ws.stats(2);
    bc.ln2_rstd = ws.stats(3);
    bc.ff = {nullptr, ws.ff()};
    bc.residual2 = ws.at(5 + (l % 2));
    layers::block_forward_before_heads(p, 0, rows, in, bc);
    // K, V of the new rows into the cache (whole rows), then the heads.
    for (int b = 0; b < batch; ++b) {
      for (int i = begin[b]; i < begin[b + 1]; ++i) {
        const int pos = ws.positions()[i];
        const T* row = ws.qkv() + std::ptrdiff_t(i) * 3 * c;
        std::memcpy(cache.keys(l, b, pos), row + c, sizeof(T) * static_cast<std::size_t>(c));
        std::memcpy(cache.values(l, b, pos), row + 2 * c, sizeof(T) * static_cast<std::size_t>(c));
      }
    }
    autodidact::detail::parallel_for(0, batch * h_count, parallel_heads, [&](int bh) { head(l, bh, false); });
    layers::block_forward_after_heads(p, 0, rows, in, bc);
    in = bc.output(C.norm);
  }
  for (int b = 0; b < batch; ++b) cache.set_length(b, cache.length(b) + (begin[b + 1] - begin[b]));

  // Each sequence's last new row → LN_f → logits (only rows that had tokens).
  int m = 0;
  for (int b = 0; b < batch; ++b) {
    if (begin[b + 1] == begin[b]) continue;
    std::memcpy(ws.last() + std::ptrdiff_t(m) * c, in + std::ptrdiff_t(begin[b + 1] - 1) * c,
                sizeof(T) * static_cast<std::size_t>(c));
    ++m;
  }
  const T* top = ws.last();
  if constexpr (C.final_norm) {
    layers::layernorm_forward(model.final_norm_parameters(), m, ws.last(), ws.last_ln(),
                              {ws.last_stats(0), ws.last_stats(1)});
    top = ws.last_ln();
  }
  // The logits of the m gathered rows, then moved to their sequences' slots
  // (backwards, so a row never overwrites one not yet moved: slot >= row).
  layers::linear_forward(model.lm_head_parameters(), m, top, ws.logits_ptr());
  for (int b = batch - 1; b >= 0 && m > 0; --b) {
    if (begin[b + 1] == begin[b]) continue;
    --m;
    if (m != b) std::memcpy(ws.logits(b), ws.logits(m), sizeof(T) * static_cast<std::size_t>(C.vocab));
  }
}

}  // namespace autodidact::inference
