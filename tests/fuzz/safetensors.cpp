// Fuzz harness: a safetensors file (header length, JSON header, dtypes,
// shapes, data offsets, coverage of the data section), then every tensor
// read, viewed and converted as a caller would, with non-finite values
// rejected and then allowed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "autodidact/io/safetensors.hpp"
#include "fuzz.hpp"

namespace fuzz_safetensors {
namespace io = autodidact::io;

inline void init() {}

template <class T>
void read_all(const io::safetensors_file& f, const std::string& name) {
  try {
    const std::vector<T> v = f.read<T>(name);
    AUTODIDACT_FUZZ_CHECK(static_cast<std::int64_t>(v.size()) == f.at(name).numel());
  } catch (const autodidact::error&) {
  }
  try {
    (void)f.view<T>(name);
  } catch (const autodidact::error&) {
  }
}

inline void one_input(std::string_view input) {
  std::vector<std::byte> bytes(input.size());
  if (!input.empty()) std::memcpy(bytes.data(), input.data(), input.size());
  io::safetensors_file f = io::safetensors_file::from_bytes(std::move(bytes), "fuzz.safetensors");
  std::size_t covered = 0;
  for (bool allow : {false, true}) {
    f.set_allow_non_finite(allow);
    for (const std::string& name : f.names()) {
      const io::tensor_info& info = f.at(name);
      AUTODIDACT_FUZZ_CHECK(info.begin <= info.end && info.end <= f.data_size());
      AUTODIDACT_FUZZ_CHECK(f.raw(name).size() == info.size_bytes());
      if (!allow) covered += info.size_bytes();
      if (io::is_floating(info.dtype)) {
        read_all<float>(f, name);
        read_all<double>(f, name);
      } else {
        read_all<std::int64_t>(f, name);
        read_all<std::int8_t>(f, name);
      }
      try {  // the wrong class of destination is a clean error
        if (io::is_floating(info.dtype)) (void)f.read<std::int32_t>(name);
        else (void)f.read<float>(name);
      } catch (const autodidact::error&) {
      }
    }
  }
  AUTODIDACT_FUZZ_CHECK(covered == f.data_size());
  for (const auto& [k, v] : f.metadata()) (void)k.size(), (void)v.size();
}
}  // namespace fuzz_safetensors

AUTODIDACT_FUZZ_HARNESS(fuzz_safetensors)
