#!/bin/sh
# golden.sh MTLC KIND CASE: runs mtlc on one test case and compares with its golden file.
#   KIND diag:   CASE.mtl is checked; stderr must equal CASE.err exactly, and the exit status
#                must be 1 if the golden has an error, else 0.
#   KIND shapes: `--emit shapes` of CASE.mtl must equal CASE.shapes, exit status 0.
# Runs in the case's directory with a relative file name, so goldens hold no paths. With
# UPDATE=1 it rewrites the golden instead (review the diff before committing it).
set -u
mtlc=$1 kind=$2 case=$3
dir=$(dirname "$case") name=$(basename "$case" .mtl)
src=${MTLC_SRC:-$dir/$name.mtl}
cd "$dir" || exit 2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
case $kind in
  diag)
    golden=$name.err
    NO_COLOR=1 "$mtlc" --check "$(basename "$src")" 2>"$tmp" >/dev/null
    status=$?
    if grep -q ": error: " "$golden" 2>/dev/null; then want=1; else want=0; fi
    ;;
  shapes)
    golden=$name.shapes
    NO_COLOR=1 "$mtlc" --emit shapes "$src" >"$tmp"
    status=$? want=0
    ;;
  *) echo "golden.sh: unknown kind '$kind'" >&2; exit 2 ;;
esac
if [ -n "${UPDATE:-}" ]; then
  cp "$tmp" "$golden"
  exit 0
fi
if ! diff -u "$golden" "$tmp"; then
  echo "FAIL: output differs from $dir/$golden" >&2
  exit 1
fi
if [ "$status" -ne "$want" ]; then
  echo "FAIL: exit status $status, expected $want" >&2
  exit 1
fi
echo "ok: $name"
