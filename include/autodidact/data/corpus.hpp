#pragma once
// Reading a pretraining corpus: a list of UTF-8 text files in BERT's
// pretraining format — one sentence (or paragraph) per line, documents
// separated by one or more blank lines; a new file starts a new document.
// The files are read lazily, one line at a time, so a corpus of any size
// costs the memory of its longest line.
//
//   for (const data::corpus_line& l : data::read_corpus({"a.txt", "b.txt"}))
//     use(l.text, l.document);   // document: 0, 0, 0, 1, 1, 2, ... across the files
//
// Errors: a file that cannot be opened (io_error naming the path and the
// reason), an empty file, a line that is not valid UTF-8 (format_error
// naming the file, the line and the byte), a corpus without a single
// non-blank line (format_error naming the files).

#include <cerrno>        // for errno
#include <cstddef>       // for std::size_t
#include <cstdint>       // for std::uint32_t, std::uint64_t
#include <cstring>       // for std::strerror
#include <filesystem>    // for std::filesystem::status, is_directory
#include <fstream>       // for std::ifstream
#include <memory>        // for std::make_shared
#include <sstream>       // for std::ostringstream
#include <string>        // for std::string, std::getline
#include <string_view>   // for std::string_view
#include <system_error>  // for std::error_code
#include <utility>       // for std::move
#include <vector>        // for std::vector

#include "autodidact/core/error.hpp"  // for autodidact::require, raise, io_error, format_error
#include "autodidact/data/detail/generator_view.hpp"  // for detail::generator_view
#include "autodidact/tokenizers/unicode.hpp"          // for tokenizers::unicode::decode

namespace autodidact::data {

// One non-blank line of the corpus.
struct corpus_line {
  std::string text;            // the line without its line break (and without a trailing '\r')
  std::uint64_t document = 0;  // running document number, counted across the files from 0
  std::uint32_t file = 0;      // index of its file in the list
  std::uint64_t line = 0;      // 1-based line number in its file
};

namespace detail {

// "'a.txt', 'b.txt'" for messages (the first few names of a long list).
inline std::string describe_files(const std::vector<std::string>& files) {
  std::ostringstream s;
  for (std::size_t i = 0; i < files.size() && i < 4; ++i) s << (i ? ", '" : "'") << files[i] << "'";
  if (files.size() > 4) s << " and " << files.size() - 4 << " more";
  return s.str();
}

// Opens one corpus file, or raises io_error saying why it cannot be read.
inline void open_corpus_file(std::ifstream& in, const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  require<io_error>(!ec && std::filesystem::exists(status), path, ": cannot open the corpus file: ",
                    ec ? ec.message() : std::string("No such file or directory"));
  require<io_error>(!std::filesystem::is_directory(status), path,
                    ": cannot open the corpus file: it is a directory, expected a UTF-8 text file");
  errno = 0;
  in.open(path, std::ios::binary);
  // errno is set by the open(2) that std::filebuf makes; say so if it was not.
  require<io_error>(in.is_open(), path, ": cannot open the corpus file: ",
                    errno ? std::strerror(errno) : "the stream refused to open it");
  require<format_error>(in.peek() != std::ifstream::traits_type::eof() || in.bad(), path,
                        ": the corpus file is empty: expected UTF-8 text, one sentence per line, "
                        "documents separated by blank lines");
  require<io_error>(!in.bad(), path, ": read error in the corpus file");
}

// Raises format_error if `text` (line `line` of `path`) is not valid UTF-8.
inline void check_corpus_utf8(std::string_view text, const std::string& path, std::uint64_t line) {
  for (std::size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {  // ASCII: the common case, no decoding
      ++pos;
      continue;
    }
    char32_t cp;
    bool bad;
    const std::size_t len = tokenizers::unicode::decode(text, pos, cp, bad);
    if (bad) {
      raise<format_error>(path, ":", line, ": invalid UTF-8 at byte ", pos + 1,
                          " of the line: the corpus must be UTF-8 text");
    }
    pos += len;
  }
}

inline bool is_blank(std::string_view line) noexcept {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

}  // namespace detail

// Checks that every file opens and is not empty, without reading them
// (the pipeline does this up front so that a typo fails at once, not
// after an hour of training on the files before it).
inline void check_corpus_files(const std::vector<std::string>& files) {
  require<invalid_argument>(!files.empty(), "data: the corpus has no files: expected at least one text file");
  for (const auto& f : files) {
    std::ifstream in;
    detail::open_corpus_file(in, f);
  }
}

// The source behind read_corpus(): one file open at a time, one line held.
class corpus_reader {
 public:
  explicit corpus_reader(std::vector<std::string> files) : files_(std::move(files)) {
    require<invalid_argument>(!files_.empty(),
                              "data: the corpus has no files: expected at least one text file");
  }

  void advance() {
    for (;;) {
      if (!in_.is_open()) {
        if (next_file_ == files_.size()) {
          require<format_error>(lines_ > 0, "data: the corpus ", detail::describe_files(files_),
                                " has no non-blank line: expected text, one sentence per line");
          done_ = true;
          return;
        }
        file_ = static_cast<std::uint32_t>(next_file_++);
        detail::open_corpus_file(in_, files_[file_]);
        line_number_ = 0;
        new_document_ = true;  // a file never continues the previous file's document
      }
      if (!std::getline(in_, current_.text)) {
        require<io_error>(!in_.bad(), files_[file_], ": read error in the corpus file after line ",
                          line_number_);
        in_.close();
        in_.clear();
        continue;
      }
      ++line_number_;
      std::string& text = current_.text;
      if (!text.empty() && text.back() == '\r') text.pop_back();  // CRLF files
      if (line_number_ == 1 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
        text.erase(0, 3);  // a UTF-8 byte-order mark
      if (detail::is_blank(text)) {
        new_document_ = true;
        continue;
      }
      detail::check_corpus_utf8(text, files_[file_], line_number_);
      if (new_document_ && lines_ > 0) ++document_;
      new_document_ = false;
      current_.document = document_;
      current_.file = file_;
      current_.line = line_number_;
      ++lines_;
      return;
    }
  }
  bool done() const noexcept { return done_; }
  const corpus_line& value() const noexcept { return current_; }

  const std::vector<std::string>& files() const noexcept { return files_; }
  std::uint64_t lines_read() const noexcept { return lines_; }  // non-blank lines so far

 private:
  std::vector<std::string> files_;
  std::ifstream in_;
  std::size_t next_file_ = 0;
  std::uint32_t file_ = 0;
  std::uint64_t line_number_ = 0;
  std::uint64_t document_ = 0;
  std::uint64_t lines_ = 0;
  bool new_document_ = true;
  bool done_ = false;
  corpus_line current_;
};

// The corpus as a single-pass range-v3 view of its non-blank lines.
using corpus_view = detail::generator_view<corpus_reader>;

inline corpus_view read_corpus(std::vector<std::string> files) {
  return detail::make_generator_view<corpus_reader>(std::move(files));
}

}  // namespace autodidact::data
