#!/usr/bin/env bash
# Checks the pretraining demo's corpus (tools/fetch_pretraining_corpus.sh,
# docs/pretraining-corpus.md): builds or reuses it, then checks
#   - the six novels, in order, by their first and last lines;
#   - the novels' words (all words of train.txt + heldout.txt minus the
#     glosses' words) are 718k within 2 %;
#   - 117,659 glosses in all, as many as WordNet's data files have synsets;
#     the test split is 20 % +- 1 %;
#   - every gloss sits in the right split: FNV-1a-32 recomputed in Perl
#     (independently of the Python script), and the script's and Perl's hash
#     of n02084071 printed side by side;
#   - lexname matches the part of speech; no gloss keeps an example
#     (no quote after ; : , and no unbalanced quote);
#   - the glosses of train.txt / heldout.txt are the TSVs' glosses, one
#     document each, at the files' ends;
#   - a second run of the script writes the same bytes.
#   bash tools/check_pretraining_corpus.sh
# Prints the measured numbers and ends with 'N passed, N failed'.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
out="$(bash "$here/fetch_pretraining_corpus.sh")"
wordnet=/usr/share/wordnet
cache="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}"
jr="$cache/corpus/debs/r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr"

passed=0
failed=0
check() {  # check <description> <command...>
  local what="$1"; shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok    $what"
  else
    failed=$((failed + 1)); echo "FAIL  $what"
  fi
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

train="$out/train.txt" held="$out/heldout.txt"
gtrain="$out/glosses_train.tsv" gtest="$out/glosses_test.tsv"

# --- sizes -------------------------------------------------------------------
for f in "$train" "$held" "$gtrain" "$gtest"; do
  printf '%-18s lines %8d  words %8d  bytes %9d  sha256 %s\n' "$(basename "$f")" \
    "$(wc -l < "$f")" "$(wc -w < "$f")" "$(wc -c < "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done

# --- the novels -------------------------------------------------------------
# first lines (title pages), in publication order, each starting a document
firsts=("SENSE AND SENSIBILITY" "PRIDE AND PREJUDICE" "MANSFIELD PARK" "EMMA" "NORTHANGER ABBEY" "Persuasion")
novels_in_order() {
  local prev=0 t n
  for t in "${firsts[@]}"; do
    n="$(awk -v t="$t" 'prev == "" && $0 == t { print NR; exit } { prev = $0 } NR == 1 && $0 == t { print 1; exit }' "$train")"
    echo "  first line '$t' at train.txt:${n:-missing}"
    [ -n "$n" ] && [ "$n" -gt "$prev" ] || return 1
    prev="$n"
  done
}
check "six novels in train.txt, in order, each from its first line" novels_in_order
# last paragraphs, in the held-out tails
lasts=("THE END" "her into Derbyshire, had been the means of uniting them." "THE END" "FINIS"
       "have been largely brought into conformity with modern British usage." "Finis")
tails_held_out() {
  local t n=0
  for t in "${lasts[@]}"; do grep -qF -- "$t" "$held" && n=$((n + 1)); done
  [ "$(grep -cxF -e "THE END" -e "FINIS" -e "Finis" "$held")" -eq 4 ] && [ "$n" -eq 6 ]
}
check "the six novels' last paragraphs are in heldout.txt" tails_held_out

tail -n +2 "$gtrain" | cut -f4 > "$tmp/gtrain"
tail -n +2 "$gtest" | cut -f4 > "$tmp/gtest"
n_train="$(wc -l < "$tmp/gtrain")"
n_test="$(wc -l < "$tmp/gtest")"
words_all="$(cat "$train" "$held" | wc -w)"
words_glosses="$(cat "$tmp/gtrain" "$tmp/gtest" | wc -w)"
novel_words=$((words_all - words_glosses))
novel_held_words=$(( $(wc -w < "$held") - $(wc -w < "$tmp/gtest") ))
echo "  novel words: $novel_words (train $((novel_words - novel_held_words)), held out $novel_held_words = $(awk -v a="$novel_held_words" -v b="$novel_words" 'BEGIN { printf "%.2f", 100 * a / b }') %)"
check "novel words 718k +- 2 %" awk -v w="$novel_words" 'BEGIN { exit !(w >= 718000 * 0.98 && w <= 718000 * 1.02) }'

# --- the glosses -------------------------------------------------------------
synsets="$(cat "$wordnet"/data.noun "$wordnet"/data.verb "$wordnet"/data.adj "$wordnet"/data.adv | grep -vc '^  ')"
echo "  glosses: train $n_train, test $n_test, total $((n_train + n_test)) (WordNet synsets: $synsets); test share $(awk -v a="$n_test" -v b="$((n_train + n_test))" 'BEGIN { printf "%.3f", 100 * a / b }') %"
check "117,659 glosses in all" [ "$((n_train + n_test))" -eq 117659 -a "$synsets" -eq 117659 ]
check "test split 20 % +- 1 %" awk -v a="$n_test" -v b="$((n_train + n_test))" 'BEGIN { exit !(a / b >= 0.19 && a / b <= 0.21) }'

py_hash="$("$py" "$here/pretraining_corpus.py" --fnv1a n02084071 | cut -d' ' -f1)"
perl_hash="$(perl -e 'my $h = 2166136261; for my $c (unpack("C*", $ARGV[0])) { $h ^= $c; $h = ($h * 16777619) % 4294967296; } print $h' n02084071)"
echo "  FNV-1a-32(n02084071): script $py_hash, perl $perl_hash, mod 5 = $((perl_hash % 5))"
check "FNV-1a-32 of n02084071: script = perl" [ "$py_hash" = "$perl_hash" ]
# Perl's own FNV-1a over every key: test iff 0 mod 5
split_by_perl() {
  local f want res
  for f in "$gtest:0" "$gtrain:1"; do
    want="${f##*:}"
    res="$(perl -ne 'next if /^pos_offset\t/; my ($k) = split /\t/; my $h = 2166136261;
      for my $c (unpack("C*", $k)) { $h ^= $c; $h = ($h * 16777619) % 4294967296; }
      $bad++ if (($h % 5 != 0) ? 1 : 0) != '"$want"'; END { print $bad // 0 }' "${f%:*}")"
    echo "  $(basename "${f%:*}"): $res keys in the wrong split"
    [ "$res" -eq 0 ] || return 1
  done
}
check "every gloss in the split its FNV-1a says (perl)" split_by_perl
keys_unique() { [ "$(cat "$gtrain" "$gtest" | grep -v '^pos_offset' | cut -f1 | sort | uniq -d | wc -l)" -eq 0 ]; }
check "keys unique" keys_unique
lexnames_match() {
  cat "$gtrain" "$gtest" | grep -v '^pos_offset' | awk -F'\t' '
    { p = substr($1, 1, 1); c = substr($3, 1, index($3, ".") - 1)
      ok = (p == "n" && c == "noun") || (p == "v" && c == "verb") || ((p == "a" || p == "s") && c == "adj") || (p == "r" && c == "adv")
      if (!ok || NF != 4 || $1 !~ /^[nvasr][0-9]+$/ || length($1) != 9 || $2 !~ /^[0-9][0-9]$/) bad++ }
    END { exit bad > 0 }'
}
check "four columns; lexname matches the part of speech" lexnames_match
no_examples() {
  local n_quote
  n_quote="$(cat "$tmp/gtrain" "$tmp/gtest" | grep -c '"' || true)"
  echo "  glosses with a double quote left (quoted terms inside the definition): $n_quote"
  cat "$tmp/gtrain" "$tmp/gtest" | grep '"' | sed 's/^/    /'
  # (no 'cat | grep -q' here: with pipefail, grep's early exit fails cat)
  ! grep -qE '[;:,)][[:space:]]*"' "$tmp/gtrain" "$tmp/gtest" &&
    ! awk '{ n = gsub(/"/, "\"") } n % 2 == 1 { bad = 1 } END { exit !bad }' "$tmp/gtrain" "$tmp/gtest"
}
check "no gloss keeps an example sentence" no_examples
glosses_in_text() {  # the files end with the glosses, one document each
  local n="$1" tsv="$2" txt="$3"
  tail -n $((2 * n - 1)) "$txt" | awk 'NR % 2 == 1' | cmp -s - "$tsv" &&
    [ "$(tail -n $((2 * n - 1)) "$txt" | awk 'NR % 2 == 0 && $0 != ""' | wc -l)" -eq 0 ] &&
    [ "$(tail -n $((2 * n)) "$txt" | head -n 1)" = "" ]
}
check "train.txt ends with the train glosses, one document each" glosses_in_text "$n_train" "$tmp/gtrain" "$train"
check "heldout.txt ends with the test glosses, one document each" glosses_in_text "$n_test" "$tmp/gtest" "$held"
utf8_clean() {
  local f
  for f in "$train" "$held" "$gtrain" "$gtest"; do
    iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1 || return 1
    ! grep -q $'\r' "$f" || return 1
  done
}
check "UTF-8, no CR" utf8_clean

# --- determinism ---------------------------------------------------------------
same_bytes() {
  "$py" "$here/pretraining_corpus.py" --janeaustenr "$jr" --wordnet "$wordnet" --out "$tmp/again" >/dev/null
  local f
  for f in train.txt heldout.txt glosses_train.tsv glosses_test.tsv; do
    cmp -s "$out/$f" "$tmp/again/$f" || { echo "  $f differs"; return 1; }
  done
}
check "a second run writes the same bytes" same_bytes

echo "pretraining corpus: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
