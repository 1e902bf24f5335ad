// The safetensors reader: round trips through the writer, conversions, and
// every validation error on crafted byte strings.

#include <catch2/catch.hpp>  // for TEST_CASE, REQUIRE, CHECK_THROWS_MATCHES

#include <limits>        // for std::numeric_limits
#include <cmath>         // for std::isinf, std::ldexp
#include <cstdint>       // for std::int64_t, std::uint64_t
#include <cstring>       // for std::memcpy
#include <filesystem>    // for std::filesystem::temp_directory_path
#include <fstream>       // for std::ofstream, std::ifstream
#include <iterator>      // for std::istreambuf_iterator
#include <exception>     // for std::exception
#include <span>          // for std::span
#include <string>        // for std::string
#include <system_error>  // for std::error_code
#include <vector>        // for std::vector

#include <unistd.h>  // for getpid (a per-process scratch directory)

#include "autodidact/io/safetensors.hpp"  // for safetensors_file, write_safetensors
#include "../support/scratch.hpp"

namespace io_safetensors_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace io = autodidact::io;

namespace {

// Matches an exception whose message contains every one of `parts`.
class message_contains : public Catch::MatcherBase<std::exception> {
 public:
  explicit message_contains(std::vector<std::string> parts) : parts_(std::move(parts)) {}
  bool match(const std::exception& e) const override {
    const std::string what = e.what();
    for (const std::string& part : parts_) {
      if (what.find(part) == std::string::npos) return false;
    }
    return true;
  }
  std::string describe() const override {
    std::string out = "has a message containing";
    for (const std::string& part : parts_) out += " \"" + part + "\"";
    return out;
  }

 private:
  std::vector<std::string> parts_;
};
message_contains has(std::vector<std::string> parts) {
  return message_contains(std::move(parts));
}

// A fresh path in the program's scratch folder (removed at exit).
std::filesystem::path scratch(const std::string& name) {
  return autodidact_test::scratch_folder("autodidact_io_test") / name;
}

// The bytes of a safetensors file: 8-byte length, `header`, `data`.
std::vector<std::byte> craft(const std::string& header, std::size_t data_bytes,
                             std::uint64_t length_override = UINT64_MAX) {
  const std::uint64_t length = length_override == UINT64_MAX ? header.size() : length_override;
  std::vector<std::byte> out(8 + header.size() + data_bytes, std::byte{0});
  std::memcpy(out.data(), &length, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

io::safetensors_file parse(const std::string& header, std::size_t data_bytes) {
  return io::safetensors_file::from_bytes(craft(header, data_bytes), "crafted.safetensors");
}

}  // namespace

TEST_CASE("a written file reads back with its shapes, values and metadata", "[io]") {
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  const std::vector<double> b = {0.1, 0.2, 0.3};
  const std::vector<std::int64_t> ids = {0, 5, -100, 96};
  const std::vector<io::tensor_entry> entries = {
      io::tensor_entry::from("layer.weight", {2, 3}, a),
      io::tensor_entry::from("layer.bias", {3}, b),
      io::tensor_entry::from("input_ids", {2, 2}, ids),
      io::tensor_entry::from("scalar", {}, std::vector<double>{42.0}),
      io::tensor_entry::from("empty", {0, 4}, std::vector<float>{}),
  };
  const auto path = scratch("round_trip.safetensors");
  io::write_safetensors(path, entries, {{"format", "pt"}, {"hidden_size", "80"}});
  REQUIRE_FALSE(std::filesystem::exists(path.string() + ".tmp"));

  const auto file = io::safetensors_file::open(path);
  CHECK(file.names() ==
        std::vector<std::string>{"empty", "input_ids", "layer.bias", "layer.weight", "scalar"});
  CHECK(file.contains("layer.bias"));
  CHECK_FALSE(file.contains("layer.gamma"));
  CHECK(file.metadata().at("hidden_size") == "80");
  CHECK(file.metadata().at("format") == "pt");

  const io::tensor_info& w = file.at("layer.weight");
  CHECK(w.dtype == io::dtype::f32);
  CHECK(w.shape == std::vector<std::int64_t>{2, 3});
  CHECK(w.numel() == 6);
  CHECK(w.size_bytes() == 24);

  CHECK(file.read<float>("layer.weight") == a);
  CHECK(file.read<double>("layer.bias") == b);
  CHECK(file.read<std::int64_t>("input_ids") == ids);
  CHECK(file.read<std::int32_t>("input_ids") == std::vector<std::int32_t>{0, 5, -100, 96});
  CHECK(file.read<double>("scalar") == std::vector<double>{42.0});
  CHECK(file.at("scalar").shape.empty());
  CHECK(file.read<float>("empty").empty());

  std::vector<float> out(6);
  const std::int64_t shape[] = {2, 3};
  file.read_into<float>("layer.weight", out, shape);
  CHECK(out == a);
}

TEST_CASE("F64 converts to float and float to double", "[io]") {
  const std::vector<double> values = {0.1, -1.0 / 3.0, 1e300, 6.02214076e23, -0.0};
  const std::vector<io::tensor_entry> entries = {io::tensor_entry::from("x", {5}, values)};
  const auto path = scratch("convert.safetensors");
  io::write_safetensors(path, entries);
  auto file = io::safetensors_file::open(path);
  // 1e300 overflows a float: rejected by default, +inf when allowed
  CHECK_THROWS_MATCHES(file.read<float>("x"), autodidact::format_error, has({"tensor 'x'", "element 2", "+inf"}));
  file.set_allow_non_finite(true);
  const std::vector<float> f = file.read<float>("x");
  REQUIRE(f.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(f[i] == static_cast<float>(values[i]));
  CHECK(std::isinf(f[2]));

  const std::vector<float> floats = {0.1f, 3.5f};
  const std::vector<io::tensor_entry> f32 = {io::tensor_entry::from("y", {2}, floats)};
  io::write_safetensors(path, f32);  // overwrites the previous file
  const auto again = io::safetensors_file::open(path);
  CHECK_FALSE(again.contains("x"));
  CHECK(again.read<double>("y") == std::vector<double>{double(0.1f), 3.5});
}

TEST_CASE("F16 and BF16 convert exactly", "[io]") {
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24,
  // +inf = 0x7c00. BF16: 1.0 = 0x3f80, -3.0 = 0xc040, 0.15625 = 0x3e20.
  const std::uint16_t halves[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00};
  const std::uint16_t brains[] = {0x3f80, 0xc040, 0x3e20};
  std::vector<std::byte> bytes = craft(
      R"({"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[10,16]}})",
      16);
  const std::size_t data = bytes.size() - 16;
  std::memcpy(bytes.data() + data, halves, 10);
  std::memcpy(bytes.data() + data + 10, brains, 6);
  auto file = io::safetensors_file::from_bytes(bytes, "halves.safetensors");
  CHECK_THROWS_MATCHES(file.read<double>("h"), autodidact::format_error, has({"halves.safetensors", "tensor 'h'", "element 4", "+inf"}));
  file.set_allow_non_finite(true);
  const std::vector<double> h = file.read<double>("h");
  CHECK(h[0] == 1.0);
  CHECK(h[1] == -2.0);
  CHECK(h[2] == 65504.0);
  CHECK(h[3] == std::ldexp(1.0, -24));
  CHECK(std::isinf(h[4]));
  CHECK(file.read<float>("b") == std::vector<float>{1.0f, -3.0f, 0.15625f});
}

TEST_CASE("read_into checks the expected shape and the destination size", "[io]") {
  const std::vector<io::tensor_entry> entries = {
      io::tensor_entry::from("w", {2, 3}, std::vector<float>(6, 1.0f)),
      io::tensor_entry::from("ids", {2}, std::vector<std::int64_t>{1, 2})};
  const auto path = scratch("shapes.safetensors");
  io::write_safetensors(path, entries);
  const auto file = io::safetensors_file::open(path);
  std::vector<float> out(6);
  const std::int64_t wrong[] = {3, 2};
  CHECK_THROWS_MATCHES(
      file.read_into<float>("w", out, wrong), autodidact::shape_error,
      Catch::Message(path.string() + ": tensor 'w': expected shape [3, 2], the file has [2, 3]"));
  std::vector<float> small(5);
  const std::int64_t right[] = {2, 3};
  CHECK_THROWS_AS(file.read_into<float>("w", std::span<float>(small), right), autodidact::shape_error);
  CHECK_THROWS_AS(file.read_into<float>("w", std::span<float>(small)), autodidact::shape_error);
  CHECK_THROWS_MATCHES(
      file.read<float>("missing"), autodidact::format_error,
      Catch::Message(path.string() + ": no tensor named 'missing' (the file holds 2 tensors)"));
  CHECK_THROWS_MATCHES(file.read<float>("ids"), autodidact::format_error,
                       has({"tensor 'ids'", "floating-point", "I64"}));
  CHECK_THROWS_MATCHES(file.read<std::int64_t>("w"), autodidact::format_error, has({"tensor 'w'", "F32"}));
}

TEST_CASE("an integer that does not fit the destination is an error", "[io]") {
  const std::vector<io::tensor_entry> entries = {
      io::tensor_entry::from("big", {1}, std::vector<std::int64_t>{1LL << 40})};
  const auto path = scratch("int_range.safetensors");
  io::write_safetensors(path, entries);
  const auto file = io::safetensors_file::open(path);
  CHECK(file.read<std::int64_t>("big")[0] == (1LL << 40));
  CHECK_THROWS_MATCHES(file.read<std::int32_t>("big"), autodidact::format_error,
                       has({"tensor 'big': element 0 = 1099511627776"}));
}

TEST_CASE("files that cannot be opened are io errors", "[io]") {
  const auto missing = scratch("does_not_exist.safetensors");
  CHECK_THROWS_MATCHES(io::safetensors_file::open(missing), autodidact::io_error,
                       Catch::Message(missing.string() + ": cannot open: the file does not exist"));
  const auto dir = scratch("a_directory.safetensors");
  std::filesystem::create_directories(dir);
  CHECK_THROWS_MATCHES(io::safetensors_file::open(dir), autodidact::io_error, has({"a directory"}));
}

TEST_CASE("truncated files and bad header lengths are format errors", "[io]") {
  const auto path = scratch("truncated.safetensors");
  write_bytes(path, {std::byte{1}, std::byte{0}, std::byte{0}});
  CHECK_THROWS_MATCHES(
      io::safetensors_file::open(path), autodidact::format_error,
      Catch::Message(
          path.string() +
          ": the file is 3 bytes, shorter than the 8-byte header length that starts a safetensors file"));
  write_bytes(path, {});
  CHECK_THROWS_AS(io::safetensors_file::open(path), autodidact::format_error);

  // A valid file cut short in its data section.
  std::vector<std::byte> bytes = craft(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
  bytes.resize(bytes.size() - 4);
  CHECK_THROWS_MATCHES(
      io::safetensors_file::from_bytes(bytes, "cut.safetensors"), autodidact::format_error,
      Catch::Message("cut.safetensors: tensor 'x': data_offsets end 16 exceeds the data size 12"));

  // A header length larger than what follows it.
  const std::string header = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CHECK_THROWS_MATCHES(io::safetensors_file::from_bytes(craft(header, 4, 1000), "long.safetensors"),
                       autodidact::format_error,
                       Catch::Message("long.safetensors: header length 1000 exceeds the " +
                                      std::to_string(header.size() + 4) + " bytes that follow it"));
  CHECK_THROWS_MATCHES(io::safetensors_file::from_bytes(craft(header, 4, UINT64_MAX - 1), "huge.safetensors"),
                       autodidact::format_error, has({"header length 18446744073709551614 exceeds"}));
  CHECK_THROWS_MATCHES(io::safetensors_file::from_bytes(craft("", 0, 0), "zero.safetensors"),
                       autodidact::format_error, has({"header length 0 is too short"}));

  // An absurd header length on a file big enough to hold it.
  std::vector<std::byte> absurd(8 + io::safetensors_file::max_header_size + 1, std::byte{' '});
  const std::uint64_t length = io::safetensors_file::max_header_size + 1;
  std::memcpy(absurd.data(), &length, 8);
  CHECK_THROWS_MATCHES(io::safetensors_file::from_bytes(std::move(absurd), "absurd.safetensors"),
                       autodidact::format_error, has({"exceeds the limit of 100000000 bytes"}));
}

TEST_CASE("a header that is not a JSON object is a format error", "[io]") {
  CHECK_THROWS_MATCHES(parse(R"({"x": {"dtype": "F32", )", 0), autodidact::format_error,
                       has({"crafted.safetensors: the header is not valid JSON"}));
  CHECK_THROWS_MATCHES(parse("\x01\x02garbage\xff", 0), autodidact::format_error, has({"not valid JSON"}));
  CHECK_THROWS_MATCHES(
      parse("[1, 2, 3]", 0), autodidact::format_error,
      Catch::Message("crafted.safetensors: the header must be a JSON object, found a JSON array"));
  CHECK(parse("{}", 0).size() == 0);
  CHECK(parse("{}      ", 0).size() == 0);  // padding spaces are allowed
}

TEST_CASE("__metadata__ must be an object of strings", "[io]") {
  CHECK(parse(R"({"__metadata__":{"a":"1","b":"two"}})", 0).metadata().size() == 2);
  CHECK_THROWS_MATCHES(
      parse(R"({"__metadata__":{"a":1}})", 0), autodidact::format_error,
      Catch::Message("crafted.safetensors: __metadata__ 'a': expected a string value, found 1"));
  CHECK_THROWS_MATCHES(parse(R"({"__metadata__":["a"]})", 0), autodidact::format_error,
                       has({"__metadata__ must be an object of strings, found a JSON array"}));
}

TEST_CASE("bad tensor entries are format errors naming the tensor", "[io]") {
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1),
                       autodidact::format_error,
                       Catch::Message("crafted.safetensors: tensor 'x': dtype \"F8\" is not supported "
                                      "(expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4),
                       autodidact::format_error, has({"tensor 'x': dtype: expected a string"}));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", 4), autodidact::format_error,
                       Catch::Message("crafted.safetensors: tensor 'x': missing field 'shape'"));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4),
                       autodidact::format_error, has({"tensor 'x': unknown field 'extra'"}));
  CHECK_THROWS_MATCHES(parse(R"({"x":[1,2]})", 4), autodidact::format_error,
                       has({"tensor 'x': expected an object"}));
  CHECK_THROWS_MATCHES(
      parse(R"({"x":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}})", 4), autodidact::format_error,
      Catch::Message("crafted.safetensors: tensor 'x': shape: expected a non-negative integer, found -1"));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                       autodidact::format_error, has({"shape: expected a non-negative integer, found 1.5"}));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":3,"data_offsets":[0,4]}})", 4),
                       autodidact::format_error, has({"shape: expected an array"}));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
                       autodidact::format_error, has({"data_offsets: expected [begin, end], found [0]"}));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
                       autodidact::format_error,
                       has({"data_offsets begin: expected a non-negative integer, found -4"}));
}

TEST_CASE("data_offsets must fit the data, match the shape and not overlap", "[io]") {
  CHECK_THROWS_MATCHES(
      parse(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,4]}})", 8), autodidact::format_error,
      Catch::Message("crafted.safetensors: tensor 'x': data_offsets end 4 is before begin 8"));
  CHECK_THROWS_MATCHES(
      parse(R"({"x":{"dtype":"F32","shape":[30],"data_offsets":[0,120]}})", 100), autodidact::format_error,
      Catch::Message("crafted.safetensors: tensor 'x': data_offsets end 120 exceeds the data size 100"));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24),
                       autodidact::format_error,
                       Catch::Message("crafted.safetensors: tensor 'x': data_offsets [0, 20] span 20 bytes, "
                                      "but shape [2, 3] of F32 needs 24"));
  CHECK_THROWS_MATCHES(parse(R"({"x":{"dtype":"F64","shape":[2,3],"data_offsets":[0,24]}})", 48),
                       autodidact::format_error, has({"shape [2, 3] of F64 needs 48"}));
  CHECK_THROWS_MATCHES(
      parse(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", 0),
      autodidact::format_error, has({"needs more than 2^64"}));
  CHECK_THROWS_MATCHES(
      parse(
          R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
          20),
      autodidact::format_error,
      Catch::Message("crafted.safetensors: tensor 'b': data_offsets [12, 20] overlap tensor 'a' at [0, 16]"));
  CHECK_THROWS_MATCHES(
      parse(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
          8),
      autodidact::format_error, has({"overlap tensor"}));
  // Adjacent tensors and empty tensors anywhere are fine.
  const auto ok = parse(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]},"e":{"dtype":"BOOL","shape":[0],"data_offsets":[4,4]}})",
      11);
  CHECK(ok.size() == 3);
  CHECK(ok.read<int>("b") == std::vector<int>{0, 0, 0});
}

TEST_CASE("a failed write leaves the existing file untouched", "[io]") {
  const auto path = scratch("keep.safetensors");
  const std::vector<io::tensor_entry> first = {io::tensor_entry::from("x", {1}, std::vector<float>{1.0f})};
  io::write_safetensors(path, first);
  io::tensor_entry bad = io::tensor_entry::from("y", {2}, std::vector<float>{1.0f, 2.0f});
  bad.shape = {3};
  const std::vector<io::tensor_entry> second = {bad};
  CHECK_THROWS_AS(io::write_safetensors(path, second), autodidact::shape_error);
  CHECK(io::safetensors_file::open(path).read<float>("x") == std::vector<float>{1.0f});

  // A destination whose directory does not exist: io_error, nothing left behind.
  const auto nowhere = scratch("no_such_dir") / "x.safetensors";
  CHECK_THROWS_AS(io::write_safetensors(nowhere, first), autodidact::io_error);
  CHECK_THROWS_AS(io::tensor_entry::from("z", {2, 2}, std::vector<float>{1.0f}), autodidact::shape_error);
}

TEST_CASE("the golden fixtures written by tools/make_golden.py read back", "[io]") {
  const std::filesystem::path dir = std::filesystem::path(AUTODIDACT_TEST_DATA_DIR) / "golden" / "models";
  for (const char* name :
       {"bert_pretraining_odd", "bert_pretraining_small", "gpt2_lm_odd", "gpt2_lm_small"}) {
    INFO(name);
    const auto file = io::safetensors_file::open(dir / (std::string(name) + ".safetensors"));
    CHECK(file.metadata().at("fixture_format_version") == "1");
    CHECK(file.metadata().at("fixture") == name);
    std::size_t floats = 0;
    for (const std::string& tensor : file.names()) {
      const io::tensor_info& info = file.at(tensor);
      if (info.dtype == io::dtype::i64) {
        CHECK(file.read<std::int64_t>(tensor).size() == static_cast<std::size_t>(info.numel()));
      } else {
        REQUIRE(info.dtype == io::dtype::f64);
        CHECK(file.read<double>(tensor).size() == static_cast<std::size_t>(info.numel()));
        ++floats;
      }
    }
    CHECK(floats + 3 <= file.size());
    CHECK(file.read<double>("loss") == file.read<double>("train.loss.1"));
    const io::tensor_info& ids = file.at("input_ids");
    REQUIRE(ids.shape.size() == 2);
    CHECK(std::to_string(ids.shape[0]) == file.metadata().at("batch"));
    CHECK(std::to_string(ids.shape[1]) == file.metadata().at("seq_len"));
  }
}

TEST_CASE("bytes of the data section that no tensor covers are a format error", "[io]") {
  // A gap between two tensors.
  CHECK_THROWS_MATCHES(
      parse(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          12),
      autodidact::format_error,
      Catch::Message("crafted.safetensors: bytes [4, 8) of the data section belong to no tensor "
                     "(a gap before tensor 'b')"));
  // A gap before the first tensor.
  CHECK_THROWS_MATCHES(parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                       autodidact::format_error, has({"bytes [0, 4) of the data section belong to no tensor"}));
  // Trailing bytes after the last tensor, and data with no tensors at all.
  CHECK_THROWS_MATCHES(
      parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 10), autodidact::format_error,
      Catch::Message("crafted.safetensors: bytes [4, 10) at the end of the data section belong to no tensor "
                     "(the data section is 10 bytes, the tensors cover 4)"));
  CHECK_THROWS_MATCHES(parse("{}", 3), autodidact::format_error, has({"bytes [0, 3) at the end"}));
}

TEST_CASE("open maps the file by default; views are zero-copy when dtype and alignment allow", "[io]") {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> ids = {7, 8};
  const std::vector<io::tensor_entry> entries = {io::tensor_entry::from("w", {2, 3}, w),
                                                 io::tensor_entry::from("ids", {2}, ids)};
  const auto path = scratch("mapped.safetensors");
  io::write_safetensors(path, entries, {{"k", "v"}});
  const auto mapped = io::safetensors_file::open(path);
  const auto read = io::safetensors_file::open(path, io::load_mode::read);
  CHECK(mapped.is_mapped());
  CHECK_FALSE(read.is_mapped());
  CHECK(mapped.data_size() == 40);  // 6 floats + 2 int64
  for (const auto* f : {&mapped, &read}) {
    const auto v = f->view<float>("w");
    CHECK(std::vector<float>(v.begin(), v.end()) == w);
    const auto i = f->view<std::int64_t>("ids");
    CHECK(std::vector<std::int64_t>(i.begin(), i.end()) == ids);
    CHECK_FALSE(f->try_view<double>("w").has_value());
    CHECK_THROWS_MATCHES(f->view<double>("w"), autodidact::format_error,
                         has({"tensor 'w': a zero-copy view needs dtype F64, the file has F32"}));
  }
  // The view points into the mapping and outlives the file object through copies.
  std::span<const float> kept;
  {
    const io::safetensors_file copy = mapped;
    kept = copy.view<float>("w");
  }
  CHECK(kept[5] == 6.0f);  // `mapped` still holds the mapping

  // An unaligned tensor: no view, but read<T> still converts.
  std::vector<std::byte> bytes = craft(
      R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})",
      5);
  const float one = 1.0f;
  std::memcpy(bytes.data() + bytes.size() - 4, &one, 4);
  const auto odd = io::safetensors_file::from_bytes(bytes, "odd.safetensors");
  CHECK_FALSE(odd.try_view<float>("f").has_value());
  CHECK_THROWS_MATCHES(odd.view<float>("f"), autodidact::format_error, has({"not aligned to 4 bytes"}));
  CHECK(odd.read<float>("f") == std::vector<float>{1.0f});

  // An empty file maps to a clear format error, as a read one does.
  const auto empty = scratch("empty.safetensors");
  write_bytes(empty, {});
  CHECK_THROWS_MATCHES(io::safetensors_file::open(empty), autodidact::format_error, has({"the file is 0 bytes"}));
}

TEST_CASE("tensor_ref writes borrowed bytes; the output is deterministic", "[io]") {
  const std::vector<float> a = {1.5f, 2.5f};
  const std::vector<double> b = {3.0};
  const std::vector<io::tensor_ref> refs = {io::tensor_ref::of<float>("z.a", {2}, a),
                                            io::tensor_ref::of<double>("a.b", {1, 1}, b)};
  const auto p1 = scratch("ref1.safetensors"), p2 = scratch("ref2.safetensors");
  io::write_safetensors(p1, refs, {{"m", "1"}});
  io::write_safetensors(p2, refs, {{"m", "1"}});
  std::ifstream f1(p1, std::ios::binary), f2(p2, std::ios::binary);
  const std::string s1((std::istreambuf_iterator<char>(f1)), {}), s2((std::istreambuf_iterator<char>(f2)), {});
  CHECK(s1 == s2);
  std::uint64_t header = 0;
  std::memcpy(&header, s1.data(), 8);
  CHECK(header % 8 == 0);
  const auto file = io::safetensors_file::open(p1);
  CHECK(file.read<float>("z.a") == a);
  CHECK(file.read<double>("a.b") == b);
  CHECK(file.at("z.a").begin == 0);  // written in the given order
  const std::vector<io::tensor_ref> dup = {refs[0], refs[0]};
  CHECK_THROWS_MATCHES(io::write_safetensors(scratch("dup.safetensors"), dup), autodidact::invalid_argument,
                       has({"tensor 'z.a': the name is reserved or used twice"}));
}

TEST_CASE("NaN and infinite values are rejected with the file, tensor and index named, unless allowed", "[io]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f, nan, -std::numeric_limits<float>::infinity()};
  const auto path = scratch("nonfinite.safetensors");
  io::write_safetensors(path, std::vector<io::tensor_entry>{io::tensor_entry::from("w", {2, 3}, values),
                                                            io::tensor_entry::from("ok", {2}, std::vector<float>{1, 2})});
  auto file = io::safetensors_file::open(path);
  CHECK_FALSE(file.allows_non_finite());
  const std::vector<std::string> parts = {"nonfinite.safetensors", "tensor 'w'", "element 4", "index [1, 1]", "NaN",
                                          "set_allow_non_finite"};
  CHECK_THROWS_MATCHES(file.read<float>("w"), autodidact::format_error, has(parts));
  CHECK_THROWS_MATCHES(file.read<double>("w"), autodidact::format_error, has(parts));
  CHECK_THROWS_MATCHES(file.view<float>("w"), autodidact::format_error, has(parts));
  CHECK_THROWS_MATCHES(file.try_view<float>("w"), autodidact::format_error, has(parts));
  std::vector<float> out(6);
  CHECK_THROWS_MATCHES(file.read_into<float>("w", out), autodidact::format_error, has(parts));
  CHECK(file.read<float>("ok") == std::vector<float>{1, 2});  // other tensors are fine
  CHECK(file.raw("w").size() == 24);                           // raw bytes are not checked
  file.set_allow_non_finite(true);
  const std::vector<float> got = file.read<float>("w");
  CHECK(std::isnan(got[4]));
  CHECK(std::isinf(got[5]));
  CHECK(file.view<float>("w").size() == 6);
}

TEST_CASE("a shape with a zero extent and huge others holds no element", "[io]") {
  const auto file = parse(R"({"z":{"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}})", 0);
  CHECK(file.at("z").numel() == 0);
  CHECK(file.read<float>("z").empty());
}

}  // namespace io_safetensors_tests
