#!/usr/bin/env bash
# Builds the tokenizer test corpus from Debian text packages (fortunes,
# fortunes-de, fortunes-ru, fortunes-zh, unicode-data; tools/setup.sh installs
# them) into one UTF-8 file, one test line per '\n'-terminated line:
#   bash tools/make_corpus.sh <output-file>
# The output is deterministic for given package versions; its sha256 is
# recorded next to the golden ids (tests/golden/tokenizers/corpus.sha256),
# and the golden test refuses a corpus with another digest.
# Sections: English prose (every 4th line of the fortunes), German, Russian
# and Chinese fortunes (every 4th line; the Chinese ones carry ANSI colour
# escapes, i.e. control characters), then Unicode edge cases made from
# unicode-data: every code point of planes 0-1 (spaced and run together),
# a sample of planes 2, 3, 14-16, combining-mark sequences, emoji
# sequences (emoji-test.txt) and very long words.
set -euo pipefail
out="${1:?usage: make_corpus.sh <output-file>}"
fort=/usr/share/games/fortunes
ucd=/usr/share/unicode
for need in "$fort/fortunes" "$fort/de/anekdoten" "$fort/ru" "$fort/chinese" "$ucd/UnicodeData.txt" "$ucd/emoji/emoji-test.txt"; do
  if [ ! -e "$need" ]; then
    echo "make_corpus.sh: $need is missing; run 'bash tools/setup.sh' (packages fortunes fortunes-de fortunes-ru fortunes-zh unicode-data)" >&2
    exit 1
  fi
done
list_files() {  # regular text files of one Debian package under a folder, sorted
  dpkg -L "$1" | grep "^$2/[^/]*$" | grep -v '\.dat$\|\.u8$' | while read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then echo "$f"; fi
  done | LC_ALL=C sort
}
tmp="$out.tmp.$$"
{
  list_files fortunes "$fort"
  list_files fortunes-de "$fort/de"
  list_files fortunes-ru "$fort/ru"
  list_files fortunes-zh "$fort"
} > "$tmp.files"
LC_ALL=C perl -e '
use strict; no warnings; use Encode qw(decode FB_CROAK);
binmode STDOUT;
my $ucd = shift;
open(my $fl, "<", shift) or die;
my @files = map { chomp; $_ } <$fl>;
sub emit { my $s = shift; $s =~ s/\n//g; print Encode::encode("UTF-8", $s, sub { "" }), "\n"; }
# 1. fortunes: every 4th line that is valid UTF-8 and not a "%" separator
for my $f (@files) {
  open(my $h, "<:raw", $f) or die "$f: $!";
  my $n = 0;
  while (my $line = <$h>) {
    $line =~ s/\n$//;
    next if $line eq "%";
    next if ($n++ % 4) != 0;
    my $copy = $line;
    my $ok = eval { decode("UTF-8", $copy, FB_CROAK); 1 };
    next unless $ok;
    print $line, "\n";
  }
}
# 2. every scalar value of planes 0 and 1 (no surrogates, no \n), 32 per line,
#    spaced and run together
my @cps = grep { $_ != 10 && !($_ >= 0xD800 && $_ <= 0xDFFF) } (0 .. 0x1FFFF);
for (my $i = 0; $i < @cps; $i += 32) {
  my @c = map { chr($_) } @cps[$i .. ($i + 31 < $#cps ? $i + 31 : $#cps)];
  emit(join(" ", @c));
  emit(join("", @c));
}
# 3. a sample of planes 2, 3, 14, 15, 16 (every 7th code point)
my @far = grep { $_ % 7 == 0 } (0x20000 .. 0x3FFFF, 0xE0000 .. 0x10FFFF);
for (my $i = 0; $i < @far; $i += 32) {
  my @c = map { chr($_) } @far[$i .. ($i + 31 < $#far ? $i + 31 : $#far)];
  emit(join(" ", @c) . " " . join("", @c));
}
# 4. combining marks (Mn, Mc, Me) on letters, digits, CJK and alone
open(my $u, "<", "$ucd/UnicodeData.txt") or die;
my @marks;
while (<$u>) { my @f = split /;/; push @marks, hex($f[0]) if $f[2] =~ /^M[nce]$/; }
for (my $i = 0; $i < @marks; $i += 8) {
  my @m = map { chr($_) } @marks[$i .. ($i + 7 < $#marks ? $i + 7 : $#marks)];
  emit("a" . join("e", @m) . " " . join("", @m) . " x" . $m[0] . $m[-1] . "y 9" . $m[0] . " \x{4E2D}" . $m[0] . "\x{6587} " . "\x{C5}" . $m[-1] . "ngstr\x{F6}m");
}
# 5. emoji sequences, with their names
open(my $e, "<:encoding(UTF-8)", "$ucd/emoji/emoji-test.txt") or die;
while (my $l = <$e>) { chomp $l; next if $l =~ /^#/ || $l eq ""; emit($l); }
# 6. very long words around the 100-character WordPiece limit, and controls
for my $len (95 .. 105, 150, 300, 1000) {
  emit(("a" x $len) . " " . ("\x{E9}" x $len) . " x" . ("\x{301}" x $len) . " " . ("ab" x ($len / 2)) . "!");
  emit(("\x{416}" x $len) . " " . ("\x{4E2D}" x 3) . ("q" x $len) . " " . ("7" x $len));
}
emit("tab\tvertical\x{0B}formfeed\x{0C}return\rnul\x{0}del\x{7F}bom\x{FEFF}zwj\x{200D}zwsp\x{200B}nbsp\x{A0}ideographic\x{3000}end");
emit("  leading and trailing spaces  ");
emit("");
emit(" ");
emit("\x{FFFD}\x{FFFD}replacement\x{FFFD}");
emit("don'\''t it'\''s I'\''m we'\''ll they'\''re you'\''ve he'\''d DON'\''T O'\''Neil");
' "$ucd" "$tmp.files" > "$tmp"
rm -f "$tmp.files"
mv "$tmp" "$out"
