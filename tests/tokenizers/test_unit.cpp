// Bad input: invalid UTF-8, empty input, missing or malformed vocabulary
// files give autodidact errors naming file, line or byte offset; plus the
// basics of encoding (pairs, truncation, padding, special tokens, batches).
#include <catch2/catch.hpp>

#include "small_wordpiece_json.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <range/v3/view/take.hpp>

#include "autodidact/tokenizers/tokenizers.hpp"

namespace tokenizers_unit_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace tk = autodidact::tokenizers;
using Catch::Matchers::Contains;

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = std::string("/tmp/autodidact_tokenizers_unit_") + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
const std::string minilm_dir = AUTODIDACT_MINILM_DIR;
}  // namespace

TEST_CASE("tokenizers_unit: invalid UTF-8 raises tokenizer_error with the byte offset, or is replaced", "[unit]") {
  auto tok = tk::load_wordpiece_vocab(minilm_dir + "/vocab.txt");
  const std::string bad = std::string("ab\xC3") + "(c";
  CHECK_THROWS_AS(tok.encode(bad), autodidact::tokenizer_error);
  CHECK_THROWS_WITH(tok.encode(bad), Contains("byte offset 2"));
  CHECK_THROWS_AS(tok.encode(std::string("\xED\xA0\x80")), autodidact::error);  // a surrogate
  CHECK_THROWS_AS(tok.encode(std::string("\xC0\xAF")), autodidact::error);      // overlong
  CHECK_THROWS_AS(tok.encode(std::string("\xF4\x90\x80\x80")), autodidact::error);  // > U+10FFFF
  tok.set_invalid_utf8(tk::utf8_policy::replace);
  const auto e = tok.encode(bad, tk::encode_options{});
  CHECK(e.size() == 5);  // [CLS] ab ( c [SEP]: U+FFFD is removed by the normalizer
  auto bpe = tk::load_byte_level_bpe(std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/bpe_vocab.json",
                                     std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/bpe_merges.txt");
  CHECK_THROWS_AS(bpe.encode(bad), autodidact::tokenizer_error);
  bpe.set_invalid_utf8(tk::utf8_policy::replace);
  CHECK(bpe.decode(bpe.encode(bad).ids) == "ab\xEF\xBF\xBD(c");
}

TEST_CASE("tokenizers_unit: empty input", "[unit]") {
  const auto tok = tk::load_wordpiece_vocab(minilm_dir + "/vocab.txt");
  const auto e = tok.encode("");
  CHECK(e.ids == std::vector<tk::token_id>{101, 102});
  CHECK(tok.encode("", tk::encode_options{false, {}, {}}).empty());
  CHECK(tok.decode(std::vector<tk::token_id>{}) == "");
  const auto p = tok.encode("", "");
  CHECK(p.ids == std::vector<tk::token_id>{101, 102, 102});
  CHECK(p.type_ids == std::vector<tk::token_id>{0, 0, 1});
}

TEST_CASE("tokenizers_unit: missing and malformed vocabulary files", "[unit]") {
  CHECK_THROWS_AS(tk::load_vocab_txt("/nonexistent/vocab.txt"), autodidact::io_error);
  CHECK_THROWS_WITH(tk::load_vocab_txt("/nonexistent/vocab.txt"), Contains("/nonexistent/vocab.txt"));
  CHECK_THROWS_AS(tk::load_vocab_txt(write_temp("empty.txt", "")), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_vocab_txt(write_temp("badutf.txt", "a\nb\xFF\n")), Contains(":2: invalid UTF-8"));
  CHECK_THROWS_WITH(tk::load_wordpiece_vocab(write_temp("nocls.txt", "[UNK]\n[SEP]\na\n")), Contains("[CLS]"));
  CHECK_THROWS_AS(tk::load_vocab_json(write_temp("v1.json", "{\"a\": 0,")), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_vocab_json(write_temp("v1.json", "{\"a\": 0,")), Contains("byte offset"));
  CHECK_THROWS_WITH(tk::load_vocab_json(write_temp("v2.json", "{\"a\": \"x\"}")), Contains("token 'a'"));
  CHECK_THROWS_WITH(tk::load_vocab_json(write_temp("v3.json", "{\"a\": 0, \"b\": 0}")), Contains("id 0 is given to two tokens"));
  CHECK_THROWS_WITH(tk::load_vocab_json(write_temp("v4.json", "[1, 2]")), Contains("expected a JSON object"));
  CHECK_THROWS_WITH(tk::load_merges_txt(write_temp("m1.txt", "#version: 0.2\na b\nabc\n")), Contains(":3: expected two tokens"));
  const std::string vj = write_temp("v5.json", "{\"a\": 0, \"b\": 1}");
  CHECK_THROWS_WITH(tk::load_byte_level_bpe(vj, write_temp("m2.txt", "a b\n")), Contains("merged token 'ab'"));
  CHECK_THROWS_WITH(tk::load_byte_level_bpe(vj, write_temp("m3.txt", "a c\n")), Contains("token 'c'"));
  CHECK_THROWS_AS(tk::load_tokenizer_json(write_temp("t1.json", "{}")), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_tokenizer_json(write_temp("t2.json", "{\"model\": {\"type\": \"Unigram\"}}")),
                    Contains("expected WordPiece or BPE, got Unigram"));
  CHECK_THROWS_WITH(tk::load_wordpiece_tokenizer_json(write_temp("t3.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"normalizer\": null}")),
                    Contains("expected BertNormalizer"));
}

TEST_CASE("tokenizers_unit: WordPiece basics", "[unit]") {
  const auto tok = tk::load_wordpiece_tokenizer_json(minilm_dir + "/tokenizer.json");
  CHECK(tok.tokenize("Héllo, WORLD! unaffable") == std::vector<std::string>{"hello", ",", "world", "!", "una", "##ffa", "##ble"});
  CHECK(tok.tokenize(std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
  CHECK(tok.tokenize("中文") == std::vector<std::string>{"中", "文"});
  const auto e = tok.encode("hello [MASK] world", tk::encode_options{});
  CHECK(e.ids == std::vector<tk::token_id>{101, 7592, 103, 2088, 102});
  CHECK(e.offsets[2] == tk::offset{6, 12});
  // the file's own defaults: truncation to 128 and padding to 128
  const auto d = tok.encode("hello");
  CHECK(d.size() == 128);
  CHECK(d.attention_mask[3] == 0);
  tk::encode_options o;
  o.truncation = tk::truncation_options{6, tk::truncation_strategy::longest_first};
  const auto p = tok.encode("one two three four", "five six", o);
  CHECK(p.size() == 6);
  CHECK(p.type_ids == std::vector<tk::token_id>{0, 0, 0, 0, 1, 1});
  o.truncation->max_length = 2;
  CHECK_THROWS_AS(tok.encode("a", "b", o), autodidact::invalid_argument);
  CHECK_THROWS_AS(tok.decode(std::vector<tk::token_id>{999999}), autodidact::invalid_argument);
}

TEST_CASE("tokenizers_unit: batch encoding on range-v3 pipelines", "[unit]") {
  const auto tok = tk::load_wordpiece_vocab(minilm_dir + "/vocab.txt");
  const std::vector<std::string> texts{"a", "a b c", "a b", "never used"};
  tk::encode_options o;
  o.padding = tk::padding_options{};
  const auto batch = tk::encode_batch(tok, texts | ranges::views::take(3), o);
  REQUIRE(batch.size() == 3);
  for (const auto& e : batch) CHECK(e.size() == 5);
  CHECK(batch[0].attention_mask == std::vector<std::uint8_t>{1, 1, 1, 0, 0});
  std::size_t n = 0;
  for (const auto& e : texts | tk::views::encode(tok)) n += e.size();
  CHECK(n == 3 + 5 + 4 + 4);
}

TEST_CASE("tokenizers_unit: byte-level BPE round-trips arbitrary bytes of valid UTF-8", "[unit]") {
  const auto bpe = tk::load_byte_level_bpe_tokenizer_json(std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/bpe_tokenizer.json");
  for (std::string s : {std::string("hello  world\n\n"), std::string("\0x\x7f", 3), std::string("😀 e\xCC\x81 中文 it's"),
                        std::string("<|endoftext|>a")}) {
    CHECK(bpe.decode(bpe.encode(s).ids, false) == s);
  }
}

TEST_CASE("tokenizers_unit: trainers on a tiny text", "[unit]") {
  tk::bpe_trainer_options o;
  o.vocab_size = 300;
  tk::byte_level_bpe_trainer t(o);
  for (int i = 0; i < 10; ++i) t.feed("low lower lowest newer wider\n");
  const auto tok = t.train_tokenizer();
  CHECK(tok.vocab().size() <= 300);
  CHECK(tok.decode(tok.encode("lowest newer").ids) == "lowest newer");
  CHECK_THROWS_AS(t.feed(std::string("\xFF")), autodidact::tokenizer_error);
  const std::string dir = "/tmp/autodidact_tokenizers_unit_";
  tk::save_bpe(t.train(), dir + "vocab.json", dir + "merges.txt");
  const auto again = tk::load_byte_level_bpe(dir + "vocab.json", dir + "merges.txt");
  CHECK(again.encode("lowest").ids == tok.encode("lowest").ids);
}

namespace {
}  // namespace

TEST_CASE("tokenizers_unit: a tokenizer.json whose vocabulary lacks a special token the post-processor emits is an error", "[unit]") {
  const std::vector<std::string> full = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"};
  const auto ok = tk::wordpiece_tokenizer_json_from_string(small_wordpiece_json(full, 2, 3), "ok/tokenizer.json");
  CHECK(ok.encode("hello").ids == std::vector<tk::token_id>{2, 4, 3});
  // [CLS] missing from the vocabulary, but the post-processor says id 101 (MiniLM's): before, every
  // encoding started with id 101
  const std::vector<std::string> no_cls = {"[PAD]", "[UNK]", "[SEP]", "hello"};
  const std::string path = write_temp("no_cls_tokenizer.json", small_wordpiece_json(no_cls, 101, 2));
  CHECK_THROWS_AS(tk::load_wordpiece_tokenizer_json(path), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_wordpiece_tokenizer_json(path),
                    Contains(path) && Contains("the special token [CLS] has id 101") &&
                        Contains("has no token with that id and no token [CLS]"));
  // the id names another token
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(small_wordpiece_json(full, 4, 3), "x.json"),
                    Contains("x.json: post_processor.single: the special token [CLS] has id 4") &&
                        Contains("gives that id to 'hello'"));
  // BertProcessing is checked the same way
  std::string bert = small_wordpiece_json(full, 2, 3);
  const auto at = bert.find("\"post_processor\"");
  const auto end = bert.find("\"model\"");
  bert.replace(at, end - at, R"("post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 7]}, )");
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(bert, "b.json"),
                    Contains("b.json: post_processor.cls: the special token [CLS] has id 7"));
}

TEST_CASE("tokenizers_unit: tokenizer.json fields of the wrong JSON type are format errors naming the field", "[unit]") {
  const std::vector<std::string> full = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"};
  std::string j = small_wordpiece_json(full, 2, 3);
  const std::string with_added = j.substr(0, j.size() - 1) + R"(, "added_tokens": {"content": "[CLS]", "id": 2}})";
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(with_added, "t.json"),
                    Contains("t.json: added_tokens: expected an array"));
  const std::string padded = j.substr(0, j.size() - 1) + R"(, "padding": {"strategy": {"Fixed": "16"}}})";
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(padded, "t.json"),
                    Contains("t.json: padding.strategy.Fixed: expected an integer"));
  const std::string pad_id = j.substr(0, j.size() - 1) +
                             R"(, "padding": {"strategy": "BatchLongest", "pad_id": 4, "pad_token": "[PAD]"}})";
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(pad_id, "t.json"),
                    Contains("padding.pad_id: the special token [PAD] has id 4"));
  const std::string sparse = small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"}, 2, 3);
  std::string far = sparse;
  far.replace(far.find("\"hello\": 4"), 10, "\"hello\": 536870912");
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(far, "t.json"), Contains("the id of token 'hello' must be in [0, 266)"));
}

TEST_CASE("tokenizers_unit: a repeated vocab.txt token keeps its last id, as Hugging Face does, and is reported", "[unit]") {
  const std::string text = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\n";
  const auto v = tk::vocab_txt_from_string(text, "dup/vocab.txt");
  CHECK(v.id("hello") == 6);        // HF's load_vocab: vocab[token] = index, the last line wins
  CHECK_FALSE(v.has_id(4));         // and id 4 names no token (HF's ids_to_tokens has no 4)
  CHECK(v.size() == 6);             // HF: len(vocab) == 6 unique tokens
  CHECK(v.id_bound() == 7);
  REQUIRE(v.duplicates().size() == 1);
  CHECK(v.duplicates()[0].token == "hello");
  CHECK(v.duplicates()[0].dropped == 4);
  CHECK(v.duplicates()[0].kept == 6);
  const auto tok = tk::load_wordpiece_vocab(write_temp("dup_vocab.txt", text));
  CHECK(tok.vocab().duplicates().size() == 1);
  CHECK(tok.encode("hello world").ids == std::vector<tk::token_id>{2, 6, 5, 3});
  CHECK_THROWS_AS(tok.decode(std::vector<tk::token_id>{4}), autodidact::invalid_argument);
  CHECK(tk::vocab_txt_from_string("a\nb\n", "x").duplicates().empty());
}

}  // namespace tokenizers_unit_tests
