# testlib.sh: what the shell tests share, sourced after they read their arguments. It moves
# into a scratch directory, removed on exit, counts passes and failures, and checks a
# command's exit status and what a file holds. A test ends with `finish`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { fails=$((fails + 1)); echo "FAIL: $1"; }
# expect STATUS DESCRIPTION -- COMMAND...: runs COMMAND (output in out.txt and err.txt) and
# checks its exit status.
expect() {
  local want=$1 what=$2; shift 3
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" -eq "$want" ]; then ok "$what"; else fail "$what: exit $got, expected $want"; cat err.txt; fi
}
# has FILE REGEX DESCRIPTION: a line of FILE matches REGEX (grep's basic syntax).
has() { grep -q -- "$2" "$1" && ok "$3" || { fail "$3: '$2' not in $1"; cat "$1"; }; }
# check PYTHON DESCRIPTION: the Python code runs without an error (numpy's /usr/bin/python3).
check() { /usr/bin/python3 -c "$1" && ok "$2" || fail "$2"; }
# finish: the counts, and the exit status: 0 when nothing failed.
finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
