// Misuse of the tokenizer loaders (issue [robustness] item 2): nothing
// silent. A special token the post-processor emits but the vocabulary lacks
// is a format_error (it used to emit id 101 anyway); a repeated vocab.txt
// token keeps its last id as Hugging Face does and is reported; each check
// asserts the exact error type and that the message names the offender.
// Hugging Face's behaviour, checked with transformers 4.x / tokenizers
// (docs/reliability.md): BertTokenizer and BertTokenizerFast give a repeated
// vocab.txt token the id of its last line, and the earlier id names no token;
// tokenizers emits [CLS] = 101 from a TemplateProcessing whose vocabulary
// lacks it, which autodidact refuses.
#include <catch2/catch.hpp>

#include "small_wordpiece_json.hpp"

#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "autodidact/core/error.hpp"
#include "autodidact/tokenizers/tokenizers.hpp"

namespace tokenizers_badinput_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace tk = autodidact::tokenizers;
using Catch::Matchers::Contains;

namespace {

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = std::string("/tmp/autodidact_tokenizers_badinput_") + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}


}  // namespace

TEST_CASE("tokenizers_badinput: a tokenizer.json lacking [CLS] is a format_error naming the token and id",
          "[badinput]") {
  const std::string path =
      write_temp("no_cls_tokenizer.json", small_wordpiece_json({"[PAD]", "[UNK]", "[SEP]", "hello"}, 101, 2));
  CHECK_THROWS_AS(tk::load_wordpiece_tokenizer_json(path), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_wordpiece_tokenizer_json(path),
                    Contains(path) && Contains("post_processor.single: the special token [CLS] has id 101") &&
                        Contains("has no token with that id and no token [CLS]"));
  // Through the generic loader too.
  CHECK_THROWS_AS(tk::load_tokenizer_json(path), autodidact::format_error);
  // [SEP] with an id that belongs to another token.
  CHECK_THROWS_AS(tk::wordpiece_tokenizer_json_from_string(
                      small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"}, 2, 4), "sep.json"),
                  autodidact::format_error);
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string(
                        small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"}, 2, 4), "sep.json"),
                    Contains("sep.json") && Contains("the special token [SEP] has id 4") &&
                        Contains("gives that id to 'hello'"));
}

TEST_CASE("tokenizers_badinput: a vocab.txt without [CLS] or the unknown token is an error for a BERT tokenizer",
          "[badinput]") {
  const std::string no_cls = write_temp("no_cls_vocab.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n");
  CHECK_THROWS_AS(tk::load_wordpiece_vocab(no_cls), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_wordpiece_vocab(no_cls),
                    Contains(no_cls + ": the BERT special token [CLS] is missing from the vocabulary"));
  const std::string no_unk = write_temp("no_unk_vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  CHECK_THROWS_AS(tk::load_wordpiece_vocab(no_unk), autodidact::format_error);
  CHECK_THROWS_WITH(tk::load_wordpiece_vocab(no_unk), Contains(no_unk + ": the unknown token [UNK]"));
}

TEST_CASE("tokenizers_badinput: a repeated vocab.txt token keeps its last id, as Hugging Face, and is reported",
          "[badinput]") {
  const std::string path = write_temp("dup_vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\n");
  const auto tok = tk::load_wordpiece_vocab(path);
  REQUIRE(tok.vocab().duplicates().size() == 1);
  const auto& d = tok.vocab().duplicates()[0];
  CHECK(d.token == "hello");
  CHECK(d.dropped == 4);
  CHECK(d.kept == 6);
  // Hugging Face: [CLS] hello world [SEP] = [2, 6, 5, 3]; id 4 names no token.
  CHECK(tok.encode("hello world").ids == std::vector<tk::token_id>{2, 6, 5, 3});
  CHECK_THROWS_AS(tok.decode(std::vector<tk::token_id>{4}), autodidact::invalid_argument);
  CHECK_THROWS_WITH(tok.decode(std::vector<tk::token_id>{4}), Contains("4"));
}

TEST_CASE("tokenizers_badinput: a token repeated in tokenizer.json's or vocab.json's vocabulary keeps its last id, "
          "as Hugging Face, and is reported", "[badinput]") {
  // Hugging Face tokenizers (serde_json): {"hello": 4, ..., "hello": 6} gives
  // hello = 6 and id 4 names no token (checked with tokenizers' Python API).
  std::string j = small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"}, 2, 3);
  j.replace(j.find("\"world\": 5"), 10, "\"world\": 5, \"hello\": 6");
  const auto tok = tk::wordpiece_tokenizer_json_from_string(j, "dup/tokenizer.json");
  REQUIRE(tok.vocab().duplicates().size() == 1);
  CHECK(tok.vocab().duplicates()[0].token == "hello");
  CHECK(tok.vocab().duplicates()[0].dropped == 4);
  CHECK(tok.vocab().duplicates()[0].kept == 6);
  CHECK(tok.encode("hello world").ids == std::vector<tk::token_id>{2, 6, 5, 3});
  CHECK_THROWS_AS(tok.decode(std::vector<tk::token_id>{4}), autodidact::invalid_argument);
  // Through a file and the generic loader too.
  const std::string path = write_temp("dup_tokenizer.json", j);
  CHECK(tk::load_wordpiece_tokenizer_json(path).vocab().duplicates().size() == 1);
  CHECK(std::get<tk::wordpiece_tokenizer>(tk::load_tokenizer_json(path)).vocab().duplicates().size() == 1);
  // A key repeated elsewhere (not in model.vocab) is not a vocabulary duplicate.
  CHECK(tk::wordpiece_tokenizer_json_from_string(
            small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"}, 2, 3), "ok.json")
            .vocab()
            .duplicates()
            .empty());
  // vocab.json (byte-level BPE) the same way.
  const auto v = tk::vocab_json_from_string(R"({"a": 0, "b": 1, "a": 2})", "dup/vocab.json");
  REQUIRE(v.duplicates().size() == 1);
  CHECK(v.duplicates()[0].token == "a");
  CHECK(v.duplicates()[0].dropped == 0);
  CHECK(v.duplicates()[0].kept == 2);
  CHECK(v.id("a") == 2);
  CHECK_FALSE(v.has_id(0));
}

TEST_CASE("tokenizers_badinput: malformed files and text name the file, line or byte", "[badinput]") {
  CHECK_THROWS_AS(tk::load_wordpiece_vocab("/nonexistent/vocab.txt"), autodidact::io_error);
  CHECK_THROWS_WITH(tk::load_wordpiece_vocab("/nonexistent/vocab.txt"), Contains("/nonexistent/vocab.txt"));
  // Not JSON (parsed without exceptions inside: the same under -fno-exceptions).
  CHECK_THROWS_AS(tk::wordpiece_tokenizer_json_from_string("{\"model\": ", "cut.json"), autodidact::format_error);
  CHECK_THROWS_WITH(tk::wordpiece_tokenizer_json_from_string("{\"model\": ", "cut.json"),
                    Contains("cut.json: malformed JSON at byte offset 11"));
  // Invalid UTF-8 in a vocab.txt line.
  CHECK_THROWS_AS(tk::vocab_txt_from_string("[PAD]\nab\xff\n", "bad/vocab.txt"), autodidact::format_error);
  CHECK_THROWS_WITH(tk::vocab_txt_from_string("[PAD]\nab\xff\n", "bad/vocab.txt"), Contains("bad/vocab.txt:2: invalid UTF-8 at byte offset 8"));
  // Invalid UTF-8 to encode, under the strict policy (the default).
  const auto tok = tk::wordpiece_tokenizer_json_from_string(
      small_wordpiece_json({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"}, 2, 3), "ok.json");
  CHECK_THROWS_AS(tok.encode("hello \xc3"), autodidact::tokenizer_error);
  CHECK_THROWS_WITH(tok.encode("hello \xc3"), Contains("invalid UTF-8 at byte offset 6"));
}

}  // namespace tokenizers_badinput_tests
