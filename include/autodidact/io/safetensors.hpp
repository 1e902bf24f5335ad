#pragma once
// Reading (and, minimally, writing) safetensors files.
//
// The format (https://github.com/huggingface/safetensors):
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8 + N)    a UTF-8 JSON object: for each tensor
//                         "name": {"dtype": "F32", "shape": [2, 3],
//                                  "data_offsets": [begin, end]}
//                       and optionally "__metadata__": {"key": "value", ...}
//   bytes [8 + N, ...)  the data section; a tensor's bytes are
//                       [begin, end) relative to its start, row-major,
//                       little-endian
//
// Everything is validated when the file is opened (see safetensors_file::
// open); every failure raises an autodidact::error naming the file, the
// tensor and the expected vs actual value: io_error when the file cannot be
// opened or read, format_error when its content is malformed, shape_error
// when a caller asks for a shape the tensor does not have.
//
// By default the file is memory-mapped (POSIX mmap, read-only, private):
// opening a 90 MB checkpoint costs no copy, and view<T>(name) returns a
// zero-copy span over a tensor whose dtype is T's and whose bytes are
// aligned for T (files written by any safetensors writer are: the data
// section starts 8-aligned). load_mode::read reads the file into memory
// instead (use it when the file may be modified while open: a mapped file
// truncated by another process raises SIGBUS on access). Either way the
// bytes live behind a shared, immutable buffer (detail::byte_buffer), so
// copies of a safetensors_file are cheap and keep the mapping alive.
//
// The data section must be covered exactly: the non-empty tensors' byte
// ranges may not overlap, and may leave no gap between them nor after the
// last one (what the format's reference implementation requires too).
//
// Floating-point values are checked when they are handed out (view,
// try_view, read, read_into): a NaN or an infinity raises format_error
// naming the file, the tensor and the first bad element, unless the caller
// allows them with set_allow_non_finite(true). raw() returns the bytes
// unchecked.//
// The parts, one job each, in io/safetensors/:
//   format.hpp   dtypes, tensor_info, element conversions
//   bytes.hpp    the file's bytes, mapped or read (load_mode)
//   header.hpp   parsing and validating the header
//   reader.hpp   safetensors_file: views and converted reads
//   writer.hpp   write_safetensors, tensor_entry, tensor_ref

#include "autodidact/io/safetensors/bytes.hpp"   // for load_mode
#include "autodidact/io/safetensors/format.hpp"  // for dtype, tensor_info
#include "autodidact/io/safetensors/header.hpp"  // for detail::header_parser
#include "autodidact/io/safetensors/reader.hpp"  // for safetensors_file
#include "autodidact/io/safetensors/writer.hpp"  // for write_safetensors, tensor_entry, tensor_ref
