#!/bin/sh
# A security test suite in miniature (docs/testing.md): run a parser over a
# corpus of hostile files, each in its own `fdbroker run --fail-on-denial`,
# and fail when any run was denied something, crashed, or ended in any way
# other than the parser's own "accepted" (0) or "rejected" (1).
#
#   examples/corpus-suite/run.sh [CORPUS_DIR]
#
# CORPUS_DIR defaults to the corpus next to this script; every regular file
# directly in it is one case (subdirectories hold files the cases include).
# FDBROKER names the fdbroker to run (default: the one on PATH);
# FDBROKER_OPTS adds options to every case's `fdbroker run`, split at spaces.
# Exit status: 0 when every case passed, 1 when any failed, 2 when the suite
# could not start.
set -u

here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
corpus=$(cd "${1:-$here/corpus}" 2>/dev/null && pwd -P) || {
  echo "run.sh: ${1:-}: no such directory" >&2
  exit 2
}
fdbroker=${FDBROKER:-fdbroker}
parser="/usr/bin/python3 -I $here/parse.py"

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

# 1. The base policy: the interpreter, the parser, and reading the corpus.
#    Written here because it names absolute paths; a suite in a repository
#    of its own would commit its policy instead.
cat >"$work/base.toml" <<POLICY
version = 1
include = ["$repo/policies/examples/include/python3.toml"]

[[allow]]
paths  = ["$here/parse.py", "$corpus/**"]
access = ["read"]
POLICY

# 2. What else the parser needs on a known-good input (the interpreter's
#    start-up probes, for one) is learned on top of it: a normal run must
#    not be denied anything, or every case would fail.
# shellcheck disable=SC2086 # $parser is a command line
if ! "$fdbroker" run --quiet --learn "$work/policy.toml" --policy "$work/base.toml" -- \
  $parser "$here/sample.conf" >"$work/out" 2>"$work/err"; then
  echo "run.sh: the parser failed on the known-good sample:" >&2
  cat "$work/out" "$work/err" >&2
  exit 2
fi

# 3. Every case, under that policy; any denial makes fdbroker exit 118.
passed=0
failed=0
for case in "$corpus"/*; do
  [ -f "$case" ] || continue
  # shellcheck disable=SC2086 # FDBROKER_OPTS is a list of options
  "$fdbroker" run --fail-on-denial ${FDBROKER_OPTS:-} --policy "$work/policy.toml" -- \
    $parser "$case" >"$work/out" 2>"$work/err"
  status=$?
  case $status in
    0) verdict="ok: accepted" ;;
    1) verdict="ok: rejected" ;;
    118) verdict="FAIL: denied access outside its policy" ;;
    125) verdict="FAIL: fdbroker could not run it" ;;
    *) verdict="FAIL: status $status" ;;
  esac
  echo "${case##*/}: $verdict"
  case $verdict in
    ok*) passed=$((passed + 1)) ;;
    *)
      failed=$((failed + 1))
      sed 's/^/    /' "$work/err"
      ;;
  esac
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
