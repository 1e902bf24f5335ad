// The data pipeline on small hand-written corpora: documents and lines, word
// starts, the exact windows of each packing mode and of sentence pairs,
// shuffling (deterministic per seed and epoch, a permutation), shards,
// resume, batches, and every error message.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <range/v3/view/iota.hpp>

#include "autodidact/data/pipeline.hpp"
#include "autodidact/models/workspace.hpp"  // models::batch_input: batches must be usable as is
#include "autodidact/tokenizers/byte_level_bpe.hpp"
#include "autodidact/tokenizers/wordpiece.hpp"
#include "../support/scratch.hpp"

namespace data_unit_tests {  // tests/CMakeLists.txt: one translation unit per folder

namespace tk = autodidact::tokenizers;
namespace data = autodidact::data;
using Catch::Matchers::Contains;

namespace {

std::string write_file(const std::string& name, const std::string& content) {
  const auto dir = autodidact_test::scratch_folder("autodidact_data_unit");
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

const tk::wordpiece_tokenizer& tiny_tokenizer() {
  static const auto tok = tk::wordpiece_vocab_from_string(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\ndog\nran\na\n##s\n", "tiny/vocab.txt");
  return tok;
}

// Four documents: 6, 4, 2 and 6 tokens ("dogs" is "dog ##s").
const std::string four_documents =
    "the cat sat\non the mat\n\nthe dogs ran\n\n\n  \t\na cat\n\na dog ran\nthe cat\nsat\n";

// The window as text: its first `length` tokens, then "|" and the padding count.
std::string render(const data::window& w) {
  std::string s;
  for (std::int32_t t = 0; t < w.length; ++t)
    s += (t ? " " : "") + tiny_tokenizer().vocab().token(w.ids[static_cast<std::size_t>(t)]);
  if (static_cast<std::size_t>(w.length) < w.size())
    s += " |" + std::to_string(w.size() - static_cast<std::size_t>(w.length));
  return s;
}

template <class Range>
std::vector<data::window> collect(Range&& r) {
  std::vector<data::window> out;
  for (const data::window& w : r) out.push_back(w);
  return out;
}

std::vector<std::string> render_all(const std::vector<data::window>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(render(w));
  return out;
}

std::vector<data::window> pack(const std::string& path, const data::window_options& o) {
  return collect(data::read_corpus({path}) | data::views::tokenize(tiny_tokenizer()) |
                 data::views::pack(o, 512));
}

data::window_options bert(std::size_t t) {
  return data::bert_window_options(tiny_tokenizer(), t);
}

data::pipeline_options pipeline_opts(const std::string& path, std::size_t t, std::size_t k,
                                     std::uint64_t seed) {
  data::pipeline_options o;
  o.files = {path};
  o.windows = bert(t);
  o.shuffle_buffer = k;
  o.seed = seed;
  o.batch_size = 3;
  return o;
}

// A corpus of `docs` documents of varied lengths, every window different.
std::string numbered_corpus(int docs) {
  const char* words[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "a"};
  std::string s;
  for (int d = 0; d < docs; ++d) {
    for (int l = 0; l < 1 + d % 3; ++l) {
      for (int w = 0; w < 2 + (d * 7 + l * 3) % 6; ++w)
        s += std::string(w ? " " : "") + words[(d * 5 + l * 3 + w * w) % 8];
      s += "\n";
    }
    s += "\n";
  }
  return s;
}

std::vector<std::uint64_t> indices(const std::vector<data::window>& ws) {
  std::vector<std::uint64_t> out;
  for (const auto& w : ws) out.push_back(w.index);
  return out;
}

bool same_window(const data::window& a, const data::window& b) {
  return a.ids == b.ids && a.segments == b.segments && a.word_start == b.word_start &&
         a.special == b.special && a.length == b.length && a.index == b.index;
}

std::vector<data::batch> drain_epoch(data::pipeline<tk::wordpiece_model>& p) {
  std::vector<data::batch> out;
  data::batch b;
  while (p.next(b)) out.push_back(b);
  return out;
}

bool same_batches(const std::vector<data::batch>& a, const std::vector<data::batch>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto &x = a[i], &y = b[i];
    if (x.ids != y.ids || x.segments != y.segments || x.lengths != y.lengths ||
        x.word_start != y.word_start || x.special != y.special || x.index != y.index || x.epoch != y.epoch ||
        x.size != y.size || x.seq != y.seq)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("data_unit: the corpus is documents of non-blank lines, across files", "[unit]") {
  const auto a = write_file("docs_a.txt", "\xEF\xBB\xBFone\r\ntwo\r\n\r\n \t\n\nthree\n");
  const auto b =
      write_file("docs_b.txt", "four\n\nfive");  // no blank line before it: a new file is a new document
  std::vector<data::corpus_line> lines;
  for (const auto& l : data::read_corpus({a, b})) lines.push_back(l);
  REQUIRE(lines.size() == 5);
  const std::vector<std::string> text{"one", "two", "three", "four", "five"};
  const std::vector<std::uint64_t> doc{0, 0, 1, 2, 3}, line{1, 2, 6, 1, 3};
  const std::vector<std::uint32_t> file{0, 0, 0, 1, 1};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].text == text[i]);
    CHECK(lines[i].document == doc[i]);
    CHECK(lines[i].line == line[i]);
    CHECK(lines[i].file == file[i]);
  }
}

TEST_CASE("data_unit: corpus errors name the file and say why", "[unit]") {
  const std::string missing = "/nonexistent/autodidact/corpus.txt";
  CHECK_THROWS_AS(data::check_corpus_files({missing}), autodidact::io_error);
  CHECK_THROWS_WITH(data::check_corpus_files({missing}),
                    Contains(missing) && Contains("cannot open the corpus file") && Contains("No such file"));
  const auto dir = std::filesystem::temp_directory_path().string();
  CHECK_THROWS_WITH(data::check_corpus_files({dir}), Contains(dir) && Contains("it is a directory"));
  const auto empty = write_file("empty.txt", "");
  CHECK_THROWS_AS(data::check_corpus_files({empty}), autodidact::format_error);
  CHECK_THROWS_WITH(data::check_corpus_files({empty}),
                    Contains(empty) && Contains("the corpus file is empty"));
  CHECK_THROWS_WITH(data::check_corpus_files({}), Contains("the corpus has no files"));
  // lazily, while reading: the second file is missing or empty
  const auto good = write_file("good.txt", "the cat\n");
  CHECK_THROWS_WITH(collect(data::read_corpus({good, missing}) | data::views::tokenize(tiny_tokenizer()) |
                            data::views::pack(bert(8), 512)),
                    Contains(missing) && Contains("No such file"));
  auto read_all = [](std::vector<std::string> files) {
    std::size_t n = 0;
    for (const auto& l : data::read_corpus(std::move(files))) n += l.text.size();
    return n;
  };
  CHECK_THROWS_WITH(read_all({good, empty}), Contains(empty) && Contains("is empty"));
  const auto bad = write_file("bad_utf8.txt", "the cat\n\nsat\non \xC3( mat\n");
  CHECK_THROWS_AS(read_all({bad}), autodidact::format_error);
  CHECK_THROWS_WITH(read_all({bad}), Contains(bad + ":4: invalid UTF-8 at byte 4 of the line"));
  const auto blank = write_file("blank.txt", "\n  \n\t\n");
  CHECK_THROWS_AS(read_all({blank, blank}), autodidact::format_error);
  CHECK_THROWS_WITH(read_all({blank, blank}),
                    Contains("the corpus '" + blank + "', '" + blank + "' has no non-blank line"));
}

TEST_CASE("data_unit: tokens carry word starts and special flags", "[unit]") {
  data::line_tokenizer<tk::wordpiece_model> wp(tiny_tokenizer());
  data::tokenized_line l;
  wp("The dogs [MASK] ran", l);
  CHECK(l.ids == std::vector<std::int32_t>{5, 10, 13, 4, 11});
  CHECK(l.word_start == std::vector<std::uint8_t>{1, 1, 0, 0, 1});
  CHECK(l.special == std::vector<std::uint8_t>{0, 0, 0, 1, 0});
  wp("zebra cat", l);  // an unknown word is [UNK], special as in HF's special_tokens_mask
  CHECK(l.ids == std::vector<std::int32_t>{1, 6});
  CHECK(l.special == std::vector<std::uint8_t>{1, 0});

  const std::string dir = std::string(AUTODIDACT_TEST_DATA_DIR) + "/golden/tokenizers/";
  const auto bpe = tk::load_byte_level_bpe(dir + "bpe_vocab.json", dir + "bpe_merges.txt");
  data::line_tokenizer<tk::byte_level_bpe_model> bl(bpe);
  bl("The kingdom's people<|endoftext|>went home", l);
  std::vector<std::string> toks;
  for (auto id : l.ids) toks.push_back(bpe.vocab().token(id));
  CHECK(toks == std::vector<std::string>{"The", "\xC4\xA0k", "ing", "d", "om", "'s", "\xC4\xA0people",
                                         "<|endoftext|>", "w", "ent", "\xC4\xA0h", "ome"});
  CHECK(l.word_start == std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0});
  CHECK(l.special == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0});
}

TEST_CASE("data_unit: packed windows across documents, exactly", "[unit]") {
  const auto path = write_file("four.txt", four_documents);
  auto ws = pack(path, bert(7));
  CHECK(render_all(ws) ==
        std::vector<std::string>{"[CLS] the cat sat on the mat", "[CLS] [SEP] the dog ##s ran [SEP]",
                                 "[CLS] a cat [SEP] a dog ran", "[CLS] the cat sat [SEP] |2"});
  CHECK(indices(ws) == std::vector<std::uint64_t>{0, 1, 2, 3});
  CHECK(ws[1].word_start == std::vector<std::uint8_t>{0, 0, 1, 1, 0, 1, 0});
  CHECK(ws[1].special == std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0, 1});
  CHECK(ws[3].special == std::vector<std::uint8_t>{1, 0, 0, 0, 1, 1, 1});
  CHECK(ws[3].ids[5] == 0);  // [PAD]
  for (const auto& w : ws) CHECK(w.segments == std::vector<std::int32_t>(7, 0));

  auto o = bert(7);
  o.drop_partial = true;
  CHECK(render_all(pack(path, o)).size() == 3);

  // GPT-2's layout: no first token, a separator after each document
  o = bert(5);
  o.first_token.reset();
  o.drop_partial = false;
  CHECK(render_all(pack(path, o)) == std::vector<std::string>{"the cat sat on the", "mat [SEP] the dog ##s",
                                                              "ran [SEP] a cat [SEP]", "a dog ran the cat",
                                                              "sat [SEP] |3"});

  // T = 8: the last document's [SEP] alone would start a window of nothing to predict: no such window
  const auto three = write_file("three.txt", "the cat sat\non the mat\n\nthe dogs ran\n\na cat\n");
  CHECK(render_all(pack(three, bert(8))) ==
        std::vector<std::string>{"[CLS] the cat sat on the mat [SEP]", "[CLS] the dog ##s ran [SEP] a cat"});
}

TEST_CASE("data_unit: packed windows within documents, exactly", "[unit]") {
  const auto path = write_file("four.txt", four_documents);
  auto o = bert(7);
  o.cross_documents = false;
  const auto ws = pack(path, o);
  CHECK(render_all(ws) == std::vector<std::string>{"[CLS] the cat sat on the mat",
                                                   "[CLS] the dog ##s ran [SEP] |1", "[CLS] a cat [SEP] |3",
                                                   "[CLS] a dog ran the cat sat"});
  CHECK(indices(ws) == std::vector<std::uint64_t>{0, 1, 2, 3});
  o.length = 12;
  CHECK(render_all(pack(path, o)) ==
        std::vector<std::string>{"[CLS] the cat sat on the mat [SEP] |4", "[CLS] the dog ##s ran [SEP] |6",
                                 "[CLS] a cat [SEP] |8", "[CLS] a dog ran the cat sat [SEP] |4"});
}

TEST_CASE("data_unit: sentence pairs, exactly", "[unit]") {
  const auto path = write_file("four.txt", four_documents);
  auto pairs = [&](std::size_t t) {
    return collect(data::read_corpus({path}) | data::views::tokenize(tiny_tokenizer()) |
                   data::views::pairs(bert(t), 512));
  };
  // T = 12 (9 text tokens): documents 0 and 3 split at their middle line boundary; 1 and 2 are one line
  auto ws = pairs(12);
  CHECK(render_all(ws) == std::vector<std::string>{"[CLS] the cat sat [SEP] on the mat [SEP] |3",
                                                   "[CLS] a dog ran [SEP] the cat sat [SEP] |3"});
  REQUIRE(ws.size() == 2);
  CHECK(ws[0].segments == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0});
  CHECK((ws[0].a_begin == 1 && ws[0].a_end == 4 && ws[0].b_begin == 5 && ws[0].b_end == 8));
  CHECK(ws[0].b_follows);
  CHECK(ws[0].special == std::vector<std::uint8_t>{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1});
  CHECK(indices(ws) == std::vector<std::uint64_t>{0, 1});
  // T = 8 (5 text tokens): a chunk closes at 5 tokens; the longer side loses tokens from its end
  ws = pairs(8);
  CHECK(render_all(ws) == std::vector<std::string>{"[CLS] the cat sat [SEP] on the [SEP]",
                                                   "[CLS] a dog ran [SEP] the cat [SEP]"});
  CHECK(ws[1].segments == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1});
  // a corpus of one-line documents makes no pair
  const auto single = write_file("single.txt", "the cat\n\nthe dog\n");
  CHECK_THROWS_WITH(
      collect(data::read_corpus({single}) | data::views::tokenize(tiny_tokenizer()) |
              data::views::pairs(bert(8), 512, "the corpus 'single.txt'")),
      Contains("the corpus 'single.txt' yields no sentence pair") && Contains("2 chunks of a single line"));
}

TEST_CASE("data_unit: window option and token errors", "[unit]") {
  const auto path = write_file("four.txt", four_documents);
  CHECK_THROWS_AS(data::views::pack(bert(600), 512), autodidact::invalid_argument);
  CHECK_THROWS_WITH(data::views::pack(bert(600), 512),
                    Contains("window length T = 600 is larger than the model's max_positions = 512"));
  CHECK_THROWS_WITH(data::views::pack(bert(2), 512),
                    Contains("window length T = 2 leaves no room for text") && Contains("expected T >= 3"));
  auto o = bert(1);
  o.first_token.reset();
  o.separator.reset();
  CHECK_THROWS_WITH(data::views::pack(o, 512), Contains("T = 1") && Contains("expected T >= 2"));
  o = bert(8);
  o.first_token.reset();
  CHECK_THROWS_WITH(data::views::pairs(o, 512),
                    Contains("sentence pairs need a first token ([CLS]) and a separator"));
  CHECK_THROWS_WITH(data::views::pairs(bert(4), 512), Contains("T = 4 is too short for a sentence pair"));
  CHECK_THROWS_WITH(data::views::pack(bert(8), 0), Contains("max_positions is 0"));

  const auto specials = write_file("specials.txt", "[MASK] [MASK]\n\n[UNK]\n");
  CHECK_THROWS_AS(pack(specials, bert(8)), autodidact::format_error);
  CHECK_THROWS_WITH(pack(specials, bert(8)),
                    Contains("yields no window with a token eligible for masking or prediction"));
  const auto nothing = write_file("nothing.txt", "\x01\x02\n\x7f\n");  // control characters: no tokens
  CHECK_THROWS_WITH(pack(nothing, bert(8)),
                    Contains("yields no tokens: every line is empty after tokenization"));
  o = bert(64);
  o.drop_partial = true;
  CHECK_THROWS_WITH(pack(path, o), Contains("too few to fill one window of T = 64 with drop_partial set"));
}

TEST_CASE("data_unit: the shuffle is a permutation, a pure function of seed and epoch", "[unit]") {
  const auto path = write_file("numbered.txt", numbered_corpus(60));
  const auto plain = collect(data::read_corpus({path}) | data::views::tokenize(tiny_tokenizer()) |
                             data::views::pack(bert(9), 512));
  REQUIRE(plain.size() > 40);
  auto shuffled = [&](std::size_t k, std::uint64_t seed, std::uint64_t epoch) {
    auto o = pipeline_opts(path, 9, k, seed);
    return collect(data::make_window_stream(tiny_tokenizer(), o, 512, epoch));
  };
  const auto a = shuffled(8, 1, 0);
  CHECK(indices(a) == indices(shuffled(8, 1, 0)));
  CHECK(indices(a) != indices(shuffled(8, 2, 0)));
  CHECK(indices(a) != indices(shuffled(8, 1, 1)));
  CHECK(indices(shuffled(0, 1, 0)) == indices(plain));
  CHECK(indices(shuffled(1, 7, 3)) == indices(plain));
  for (std::size_t k : {2, 8, 1000}) {
    const auto s = shuffled(k, 5, 2);
    REQUIRE(s.size() == plain.size());
    std::set<std::uint64_t> seen;
    for (const auto& w : s) {
      seen.insert(w.index);
      CHECK(same_window(w, plain[w.index]));  // the window is the unshuffled one with its index
    }
    CHECK(seen.size() == plain.size());
    CHECK(indices(s) != indices(plain));
  }
}

TEST_CASE("data_unit: shard k of n yields windows k, k + n, ... of the single stream", "[unit]") {
  const auto path = write_file("numbered.txt", numbered_corpus(60));
  auto o = pipeline_opts(path, 9, 16, 11);
  const auto single = collect(data::make_window_stream(tiny_tokenizer(), o, 512, 4));
  const std::size_t n = 3;
  std::size_t total = 0;
  for (std::size_t k = 0; k < n; ++k) {
    o.shard = k;
    o.shards = n;
    const auto part = collect(data::make_window_stream(tiny_tokenizer(), o, 512, 4));
    total += part.size();
    for (std::size_t i = 0; i < part.size(); ++i) CHECK(same_window(part[i], single[k + i * n]));
  }
  CHECK(total == single.size());
  o.shard = 3;
  CHECK_THROWS_WITH(data::pipeline<tk::wordpiece_model>(tiny_tokenizer(), o, 512),
                    Contains("shard k = 3 of n = 3"));
}

TEST_CASE("data_unit: a resumed pipeline continues bit for bit", "[unit]") {
  const auto path = write_file("numbered.txt", numbered_corpus(60));
  auto o = pipeline_opts(path, 9, 8, 3);
  o.shards = 2;
  o.shard = 1;
  data::pipeline<tk::wordpiece_model> p(tiny_tokenizer(), o, 512);
  const auto epoch0 = drain_epoch(p);
  const auto epoch1 = drain_epoch(p);
  REQUIRE(epoch0.size() > 4);
  CHECK(p.position() == data::pipeline_position{2, 0});
  CHECK_FALSE(same_batches(epoch0, epoch1));  // a new order each epoch
  // stop after 3 batches of epoch 1, save the position, resume in a new pipeline
  data::pipeline<tk::wordpiece_model> q(tiny_tokenizer(), o, 512);
  q.seek({1, 0});
  data::batch b;
  for (int i = 0; i < 3; ++i) REQUIRE(q.next(b));
  const auto saved = q.position();
  CHECK(saved == data::pipeline_position{1, 9});
  data::pipeline<tk::wordpiece_model> r(tiny_tokenizer(), o, 512, saved);
  const auto rest = drain_epoch(r);
  CHECK(same_batches(rest, std::vector<data::batch>(epoch1.begin() + 3, epoch1.end())));
  CHECK(same_batches(drain_epoch(q), rest));
  // the batches view gives the same batches
  data::pipeline<tk::wordpiece_model> v(tiny_tokenizer(), o, 512);
  std::vector<data::batch> viewed;
  for (const data::batch& x : v.batches()) viewed.push_back(x);
  CHECK(same_batches(viewed, epoch0));
  // a position past the epoch's end
  data::pipeline<tk::wordpiece_model> w(tiny_tokenizer(), o, 512, {0, 100000});
  CHECK_THROWS_WITH(w.next(b), Contains("cannot seek to window 100000 of epoch 0: shard 1 of 2 has only"));
}

TEST_CASE("data_unit: batches are models::batch_input, with the last one short or dropped", "[unit]") {
  const auto path = write_file("four.txt", four_documents);
  auto o = pipeline_opts(path, 7, 0, 0);
  data::pipeline<tk::wordpiece_model> p(tiny_tokenizer(), o, 512);
  data::batch b;
  REQUIRE(p.next(b));
  const autodidact::models::batch_input in{b.ids, b.segments, b.lengths, b.size, b.seq};
  CHECK(in.batch == 3);
  CHECK(in.seq == 7);
  CHECK(in.ids.size() == 21);
  CHECK(in.lengths[1] == 7);
  CHECK(b.index == std::vector<std::uint64_t>{0, 1, 2});
  CHECK(std::vector<std::uint8_t>(b.special.begin() + 7, b.special.begin() + 14) ==
        std::vector<std::uint8_t>{1, 1, 0, 0, 0, 0, 1});
  REQUIRE(p.next(b));
  CHECK(b.size == 1);  // the short last batch
  CHECK(b.lengths == std::vector<std::int32_t>{5});
  CHECK(b.ids.size() == 7);
  CHECK_FALSE(p.next(b));
  CHECK(p.position() == data::pipeline_position{1, 0});
  o.drop_last = true;
  data::pipeline<tk::wordpiece_model> q(tiny_tokenizer(), o, 512);
  CHECK(drain_epoch(q).size() == 1);
  CHECK(q.position() == data::pipeline_position{1, 0});

  o.batch_size = 0;
  CHECK_THROWS_WITH(data::pipeline<tk::wordpiece_model>(tiny_tokenizer(), o, 512),
                    Contains("batch size B = 0"));
  o.batch_size = 2;
  o.files.clear();
  CHECK_THROWS_WITH(data::pipeline<tk::wordpiece_model>(tiny_tokenizer(), o, 512),
                    Contains("files is empty"));
  o.files = {path, "/nonexistent/b.txt"};  // checked when the pipeline is made, not when it gets there
  CHECK_THROWS_WITH(data::pipeline<tk::wordpiece_model>(tiny_tokenizer(), o, 512),
                    Contains("/nonexistent/b.txt"));
  o.files = {path};
  o.windows.length = 1024;
  CHECK_THROWS_WITH(data::pipeline<tk::wordpiece_model>(tiny_tokenizer(), o, 512),
                    Contains("max_positions = 512"));
}

}  // namespace data_unit_tests
