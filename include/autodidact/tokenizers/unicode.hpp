#pragma once
// UTF-8 decoding and the character classes the tokenizers need, matching
// Hugging Face tokenizers 0.21 exactly. The classes come from utf8proc's
// Unicode 15 categories plus small exception tables: HF's BERT pieces use the
// `unicode_categories` crate (Unicode 9-era punctuation) and its GPT-2 regex
// uses Oniguruma's Unicode 14 tables, so characters whose category changed or
// that were added later are listed below (found by probing every code point
// with tools/make_tokenizer_golden.py; tests/golden/tokenizers/codepoints.json
// holds the probe and tokenizers_unicode checks every code point against it).

#include <algorithm>  // for std::binary_search, std::lower_bound
#include <array>      // for std::array
#include <cstddef>    // for std::size_t
#include <cstdint>    // for std::uint8_t
#include <string>     // for std::string
#include <string_view>  // for std::string_view
#include <utf8proc.h>   // for utf8proc_category, utf8proc_decompose_char, utf8proc_tolower

#include "autodidact/core/error.hpp"  // for autodidact::raise, tokenizer_error

namespace autodidact::tokenizers {

// What to do with bytes that are not valid UTF-8.
enum class utf8_policy {
  strict,   // throw tokenizer_error naming the byte offset (default)
  replace,  // decode each maximal invalid subsequence as U+FFFD
};

namespace unicode {

inline constexpr char32_t replacement_character = 0xFFFD;

// Decodes one code point at text[pos]; returns its byte length, or 0 if the
// bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
// truncated). On failure `cp` is U+FFFD and the return value is the length
// of the maximal invalid subsequence (at least 1), negated into `bad`.
inline std::size_t decode(std::string_view text, std::size_t pos, char32_t& cp, bool& bad) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  const unsigned char b0 = s[pos];
  bad = false;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t c = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    bad = true;
    cp = replacement_character;
    return 1;
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (pos + k >= n || s[pos + k] < lo || s[pos + k] > hi) {
      bad = true;
      cp = replacement_character;
      return k;
    }
    c = (c << 6) | (s[pos + k] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  cp = c;
  return len;
}

// Appends the UTF-8 form of cp.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Checks that text is valid UTF-8; throws tokenizer_error naming `what`
// and the byte offset of the first bad byte otherwise.
inline void validate_utf8(std::string_view text, std::string_view what = "input text") {
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    char32_t cp;
    bool bad;
    const std::size_t len = decode(text, pos, cp, bad);
    if (bad) {
      raise<tokenizer_error>(what, ": invalid UTF-8 at byte offset ", pos, ": expected a valid UTF-8 sequence, got byte 0x",
                             "0123456789abcdef"[static_cast<unsigned char>(text[pos]) >> 4],
                             "0123456789abcdef"[static_cast<unsigned char>(text[pos]) & 15],
                             " (use utf8_policy::replace to decode it as U+FFFD)");
    }
    pos += len;
  }
}

// Returns text with every maximal invalid subsequence replaced by U+FFFD
// (the WHATWG / Python "replace" rule), or text itself when it is valid.
inline std::string replace_invalid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp;
    bool bad;
    const std::size_t len = decode(text, pos, cp, bad);
    if (bad) append_utf8(out, replacement_character);
    else out.append(text.substr(pos, len));
    pos += len;
  }
  return out;
}

namespace detail {
struct cp_range {
  char32_t first, last;
};
template <std::size_t N>
constexpr bool in_ranges(const std::array<cp_range, N>& table, char32_t cp) noexcept {
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const cp_range& r, char32_t c) { return r.last < c; });
  return it != table.end() && it->first <= cp;
}
// utf8proc (Unicode 15) says punctuation, HF's BERT pre-tokenizer does not.
inline constexpr std::array<cp_range, 32> bert_not_punct{{
    {0x61D, 0x61D}, {0x9FD, 0x9FD}, {0xA76, 0xA76}, {0xC77, 0xC77}, {0xC84, 0xC84}, {0x1B7D, 0x1B7E},
    {0x2E43, 0x2E4F}, {0x2E52, 0x2E5D}, {0x10EAD, 0x10EAD}, {0x10F55, 0x10F59}, {0x10F86, 0x10F89},
    {0x1144B, 0x1144F}, {0x1145A, 0x1145B}, {0x1145D, 0x1145D}, {0x11660, 0x1166C}, {0x116B9, 0x116B9},
    {0x1183B, 0x1183B}, {0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46}, {0x11A9A, 0x11A9C},
    {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11C41, 0x11C45}, {0x11C70, 0x11C71}, {0x11EF7, 0x11EF8},
    {0x11F43, 0x11F4F}, {0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2}, {0x16E97, 0x16E9A}, {0x16FE2, 0x16FE2},
    {0x1E95E, 0x1E95F}}};
// utf8proc says letter, HF's GPT-2 regex (Oniguruma, Unicode 14) does not.
inline constexpr std::array<cp_range, 13> gpt2_not_letter{{
    {0x1123F, 0x11240}, {0x11F02, 0x11F02}, {0x11F04, 0x11F10}, {0x11F12, 0x11F33}, {0x1342F, 0x1342F},
    {0x13441, 0x13446}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D},
    {0x1E4D0, 0x1E4EB}, {0x2B739, 0x2B739}, {0x31350, 0x323AF}}};
// utf8proc says number, HF's GPT-2 regex does not.
inline constexpr std::array<cp_range, 3> gpt2_not_number{{{0x11F50, 0x11F59}, {0x1D2C0, 0x1D2D3}, {0x1E4F0, 0x1E4F9}}};
// utf8proc says non-spacing mark (Mn), HF's accent stripping (Unicode 9-era
// tables) keeps it.
inline constexpr std::array<cp_range, 91> bert_not_mn{{
    {0x7FD, 0x7FD}, {0x898, 0x89F}, {0x8CA, 0x8E1}, {0x9FE, 0x9FE}, {0xAFA, 0xAFF}, {0xB55, 0xB55},
    {0xC04, 0xC04}, {0xC3C, 0xC3C}, {0xD00, 0xD00}, {0xD3B, 0xD3C}, {0xD81, 0xD81}, {0xEBA, 0xEBA},
    {0xECE, 0xECE}, {0x180F, 0x180F}, {0x1885, 0x1886}, {0x1ABF, 0x1ACE}, {0x1DF6, 0x1DFB}, {0xA82C, 0xA82C},
    {0xA8C5, 0xA8C5}, {0xA8FF, 0xA8FF}, {0xA9BD, 0xA9BD}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x11073, 0x11074}, {0x110C2, 0x110C2}, {0x111C9, 0x111C9},
    {0x111CF, 0x111CF}, {0x1123E, 0x1123E}, {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F}, {0x11442, 0x11444},
    {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x1182F, 0x11837}, {0x11839, 0x1183A}, {0x1193B, 0x1193C}, {0x1193E, 0x1193E},
    {0x11943, 0x11943}, {0x119D4, 0x119D7}, {0x119DA, 0x119DB}, {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38},
    {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56}, {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A99},
    {0x11C30, 0x11C36}, {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D45}, {0x11D47, 0x11D47},
    {0x11D90, 0x11D91}, {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x11F00, 0x11F01}, {0x11F36, 0x11F3A},
    {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x13440, 0x13440}, {0x13447, 0x13455}, {0x16F4F, 0x16F4F}, {0x16FE4, 0x16FE4},
    {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46}, {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024},
    {0x1E026, 0x1E02A}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
    {0x1E944, 0x1E94A}}};
// utf8proc says format character (Cf), HF's clean_text keeps it.
inline constexpr std::array<cp_range, 4> bert_not_cf{{{0x890, 0x891}, {0x8E2, 0x8E2}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}}};
}  // namespace detail

inline utf8proc_category_t category(char32_t cp) noexcept {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// Rust's char::is_whitespace (the White_Space property).
constexpr bool is_white_space(char32_t c) noexcept {
  return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// BERT: a character the pre-tokenizer isolates (ASCII punctuation or a
// Unicode P* character as HF's tables have it).
inline bool is_bert_punctuation(char32_t c) noexcept {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  if (c == 0x166D || c == 0x111C9) return true;
  const auto cat = category(c);
  const bool p = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
  return p && !detail::in_ranges(detail::bert_not_punct, c);
}

// BERT normalizer: the characters clean_text turns into a space.
constexpr bool is_bert_whitespace(char32_t c) noexcept { return is_white_space(c); }

// BERT normalizer: the characters clean_text removes: NUL, U+FFFD and
// control, format, private-use characters (Cc except \t \n \r, Cf, Co)
// as HF's tables have them. Unassigned code points (Cn) are kept.
inline bool is_bert_removed(char32_t c) noexcept {
  if (c == 0 || c == 0xFFFD) return true;
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const auto cat = category(c);
  if (cat == UTF8PROC_CATEGORY_CF) return !detail::in_ranges(detail::bert_not_cf, c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

// BERT normalizer: the non-spacing marks accent stripping removes.
inline bool is_bert_accent(char32_t c) noexcept {
  if (c < 0x300) return false;
  if (c == 0x1734) return true;  // Mn in older Unicode, Mc since 14
  return category(c) == UTF8PROC_CATEGORY_MN && !detail::in_ranges(detail::bert_not_mn, c);
}

// BERT: the CJK ideograph blocks padded with spaces (HF's exact ranges).
constexpr bool is_bert_chinese(char32_t c) noexcept {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// GPT-2 pre-tokenization classes: \p{L}, \p{N}, \s.
inline bool is_gpt2_letter(char32_t c) noexcept {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  const auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO && !detail::in_ranges(detail::gpt2_not_letter, c);
}
inline bool is_gpt2_number(char32_t c) noexcept {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO && !detail::in_ranges(detail::gpt2_not_number, c);
}
constexpr bool is_gpt2_space(char32_t c) noexcept { return is_white_space(c); }

// Canonical decomposition (NFD) of one code point; returns the count
// written to out (at most 4 for any Unicode 15 character).
inline int decompose(char32_t cp, char32_t (&out)[8]) noexcept {
  if (cp == 0x11938) {  // decomposes since Unicode 13; HF's NFD tables predate it
    out[0] = cp;
    return 1;
  }
  utf8proc_int32_t buf[8];
  int last_boundclass = 0;
  const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 8, UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0 || n > 8) {
    out[0] = cp;
    return 1;
  }
  for (int i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buf[i]);
  return static_cast<int>(n);
}

inline int combining_class(char32_t cp) noexcept {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class;
}

// Rust's char::to_lowercase: the simple mapping, except U+0130 which
// lowercases to "i" followed by U+0307.
inline int to_lower(char32_t cp, char32_t (&out)[2]) noexcept {
  if (cp == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
  return 1;
}

}  // namespace unicode
}  // namespace autodidact::tokenizers
