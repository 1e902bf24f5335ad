#!/usr/bin/env bash
# Mutation check of the test suite (run by hand, not in CI): every patch in
# tests/mutations/ breaks the library on purpose, and the test it names must
# then fail. A mutation that a test survives is a test that cannot fail.
#
#   bash tools/mutate.sh               every mutation
#   bash tools/mutate.sh NAME...       only these (file names without .patch)
#   bash tools/mutate.sh --list        the table: mutation, test that catches it
#
# Each tests/mutations/<name>.patch starts with two header lines, then a
# unified diff against the repository (paths a/include/..., as `git diff`
# writes them):
#   # test: <ctest name>            the test that must fail
#   # what: <one sentence>          what the mutation breaks
# and optionally "# target: <build target>" when the test's program is not
# named like the test (examples are: example_<name> runs <name>).
# The script copies the working tree (without build/) to
# ${AUTODIDACT_MUTATE_DIR:-/tmp/autodidact-mutate}/src, applies one patch
# at a time to the copy, builds only the named test in a release build
# kept between mutations, runs it with CTest and expects a failure. It
# never touches the repository itself. Needs git, tar and the build
# dependencies (tools/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mutations="$root/tests/mutations"
work="${AUTODIDACT_MUTATE_DIR:-/tmp/autodidact-mutate}"
jobs="${AUTODIDACT_JOBS:-$(nproc)}"

field() {  # field <patch> <key>: the value of its "# key:" header line
  sed -n "s/^# $2: //p" "$1" | head -n 1
}
program_of() {  # program_of <test>: the name of the program CTest runs for it
  (cd "$work/build" && ctest --show-only=json-v1 -R "^$1\$") | python3 -c '
import json, os, sys
tests = json.load(sys.stdin)["tests"]
print(os.path.basename(tests[0]["command"][0]) if tests else "")'
}

if [ "${1:-}" = "--list" ]; then
  printf '| mutation | what it breaks | test that catches it |\n|---|---|---|\n'
  for p in "$mutations"/*.patch; do
    printf '| `%s` | %s | `%s` |\n' "$(basename "$p" .patch)" "$(field "$p" what)" "$(field "$p" test)"
  done
  exit 0
fi

names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for p in "$mutations"/*.patch; do names+=("$(basename "$p" .patch)"); done
fi

mkdir -p "$work/src" "$work/build"
sync_copy() {  # the pristine tree; tar keeps unchanged files' times, so builds stay incremental
  (cd "$root" && tar --exclude=./build --exclude=./.git -cf - .) | (cd "$work/src" && tar -xf -)
}
touched=()
restore() {  # back to the pristine tree; files a patch changed get a new time so they rebuild
  sync_copy
  local f
  for f in "${touched[@]}"; do touch "$work/src/$f"; done
  touched=()
}
sync_copy
if [ ! -f "$work/build/build.ninja" ]; then
  cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DAUTODIDACT_BUILD_BENCHMARKS=OFF >/dev/null
fi

caught=() survived=() broken=()
for name in "${names[@]}"; do
  patch_file="$mutations/$name.patch"
  if [ ! -f "$patch_file" ]; then echo "mutate.sh: no mutation '$name' ($patch_file)" >&2; exit 2; fi
  test_name="$(field "$patch_file" test)"
  restore
  echo "== $name: $(field "$patch_file" what) -> expect $test_name to fail"
  mapfile -t touched < <(cd "$work/src" && git apply --numstat "$patch_file" | cut -f3)
  if ! (cd "$work/src" && git apply --unidiff-zero "$patch_file"); then
    echo "   the patch no longer applies: update it"; broken+=("$name"); continue
  fi
  # The build target: the program the test runs (a folder's tests share
  # one, tests/CMakeLists.txt), from CTest's own description of the test;
  # a "# target:" line overrides it.
  target="$(field "$patch_file" target)"
  if [ -z "$target" ]; then
    target="$(program_of "$test_name")"
    if [ -z "$target" ]; then echo "   no test '$test_name' in CTest"; broken+=("$name"); continue; fi
  fi
  if ! cmake --build "$work/build" -j "$jobs" --target "$target" >"$work/build.log" 2>&1; then
    if grep -q "unknown target" "$work/build.log"; then
      echo "   no build target '$target': add a '# target:' line"; broken+=("$name"); continue
    fi
    # A mutation may also be caught at compile time (a static_assert).
    echo "   caught: the test does not compile (see $work/build.log)"; caught+=("$name"); continue
  fi
  if (cd "$work/build" && ctest -R "^${test_name}\$" --output-on-failure >"$work/test.log" 2>&1); then
    echo "   SURVIVED: $test_name passed with the mutation"; survived+=("$name")
  else
    echo "   caught"; caught+=("$name")
  fi
done
restore

echo
echo "caught ${#caught[@]}, survived ${#survived[@]}, patch broken ${#broken[@]}"
[ "${#survived[@]}" -eq 0 ] && [ "${#broken[@]}" -eq 0 ]
