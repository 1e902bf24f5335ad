#!/usr/bin/env bash
# Builds the pretraining demo's corpus (Jane Austen's six novels and the
# WordNet 3.0 glosses, both from Debian packages) into a cache folder and
# prints that folder on stdout:
#   bash tools/fetch_pretraining_corpus.sh
# -> ${AUTODIDACT_CACHE:-~/.cache/autodidact}/corpus/pretraining/ with
#    train.txt, heldout.txt, glosses_train.tsv, glosses_test.tsv
# (docs/pretraining-corpus.md describes them).
# Steps, each skipped when its result is there:
#   1. wordnet-base installed (apt-get, with sudo when not root; tools/setup.sh
#      lists it too);
#   2. r-cran-janeaustenr downloaded with 'apt-get download' and unpacked with
#      'dpkg-deb -x' into <cache>/corpus/debs/ (R itself is never installed);
#   3. tools/pretraining_corpus.py run when an output is missing or the stamp
#      (sha256 of the script, of every input file and of the outputs) differs.
# Idempotent and, once cached, offline. Messages go to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}"
corpus="$cache/corpus"
debs="$corpus/debs"
out="$corpus/pretraining"
script="$here/pretraining_corpus.py"
wordnet=/usr/share/wordnet
jpkg=r-cran-janeaustenr
jdir="$debs/$jpkg"                                   # the unpacked package
jr="$jdir/usr/lib/R/site-library/janeaustenr"        # its R folder
outputs=(train.txt heldout.txt glosses_train.tsv glosses_test.tsv)

say() { echo "fetch_pretraining_corpus.sh: $*" >&2; }
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

mkdir -p "$debs" "$out"
# One builder at a time (parallel CTest fixtures, two shells).
exec 9>"$corpus/.lock"
flock 9

# 1. WordNet
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! installed wordnet-base || [ ! -f "$wordnet/data.noun" ]; then
  say "installing wordnet-base"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null
fi
for f in data.noun data.verb data.adj data.adv; do
  if [ ! -f "$wordnet/$f" ]; then say "$wordnet/$f is missing although wordnet-base is installed"; exit 1; fi
done

# 2. janeaustenr, downloaded and unpacked without installing it (or R)
if [ ! -f "$jr/data/Rdata.rdb" ] || [ ! -f "$jr/data/Rdata.rdx" ]; then
  deb="$(ls "$debs"/${jpkg}_*.deb 2>/dev/null | LC_ALL=C sort | tail -n 1 || true)"
  if [ -z "$deb" ]; then
    say "downloading $jpkg into $debs"
    # As root, apt drops to the _apt user for downloads unless told otherwise.
    apt_opts=()
    if [ "$(id -u)" -eq 0 ]; then apt_opts=(-o APT::Sandbox::User=root); fi
    if ! (cd "$debs" && apt-get download -q "${apt_opts[@]}" "$jpkg" >/dev/null 2>&1); then
      say "apt-get download failed; refreshing the package lists and trying again"
      "${sudo_cmd[@]}" apt-get update -qq >/dev/null
      (cd "$debs" && apt-get download -q "${apt_opts[@]}" "$jpkg" >/dev/null)
    fi
    deb="$(ls "$debs"/${jpkg}_*.deb 2>/dev/null | LC_ALL=C sort | tail -n 1 || true)"
    if [ -z "$deb" ]; then say "apt-get download $jpkg left no .deb in $debs"; exit 1; fi
  fi
  say "unpacking $(basename "$deb")"
  rm -rf "$jdir.tmp"
  dpkg-deb -x "$deb" "$jdir.tmp"
  rm -rf "$jdir"
  mv "$jdir.tmp" "$jdir"
fi

# 3. the corpus. The stamp holds the sha256 of the inputs (script, R
# database, WordNet files) and of the outputs they gave.
inputs_sum() {
  sha256sum "$script" "$jr/data/Rdata.rdx" "$jr/data/Rdata.rdb" \
    "$wordnet/data.noun" "$wordnet/data.verb" "$wordnet/data.adj" "$wordnet/data.adv" \
    | sed 's#  .*/#  #'
}
outputs_sum() { (cd "$out" && sha256sum "${outputs[@]}"); }
fresh=1
for f in "${outputs[@]}"; do [ -f "$out/$f" ] || fresh=0; done
if [ "$fresh" -eq 1 ] && [ -f "$out/.stamp" ] &&
   [ "$(cat "$out/.stamp")" == "$(inputs_sum; outputs_sum)" ]; then
  echo "$out"
  exit 0
fi
say "building the corpus in $out"
rm -f "$out/.stamp"
"$py" "$script" --janeaustenr "$jr" --wordnet "$wordnet" --out "$out" >&2
{ inputs_sum; outputs_sum; } > "$out/.stamp.tmp"
mv "$out/.stamp.tmp" "$out/.stamp"
echo "$out"
