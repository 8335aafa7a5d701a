#!/usr/bin/env bash
# tests/man.sh MTLC MANPAGE: checks the man page of mtlc.
# - groff renders MANPAGE without an error or a warning (-ww), and man(1) renders it with its
#   NAME section;
# - its version (the .TH line) is the one `MTLC --version` prints;
# - its OPTIONS section has one .TP entry for every option of `MTLC --help` and none other.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 MTLC MANPAGE" >&2
  exit 2
fi
mtlc=$1
page=$2
[ -r "$page" ] || { echo "man: cannot read '$page'" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
  echo "man: $*" >&2
  failed=1
}

# 1. groff: no error and nothing at all on stderr.
if ! groff -man -Tutf8 -ww -z "$page" 2>"$tmp/groff.err"; then
  fail "groff failed on $page"
fi
if [ -s "$tmp/groff.err" ]; then
  fail "groff warns about $page:"
  cat "$tmp/groff.err" >&2
fi

# 2. man(1), as a reader would see it, without the user's settings or a pager.
unset MAN_KEEP_FORMATTING MANOPT MANPAGER MANROFFOPT
if ! MANWIDTH=80 man -P cat -l "$page" 2>"$tmp/man.err" | col -b >"$tmp/man.txt"; then
  fail "man -l failed on $page:"
  cat "$tmp/man.err" >&2
elif ! grep -q '^NAME$' "$tmp/man.txt" || ! grep -Eq '^[[:space:]]+mtlc [^[:space:]]+ [[:alpha:]]' "$tmp/man.txt"; then
  fail "man -l $page has no NAME section naming mtlc"
fi

# 3. The .TH line names the version that `MTLC --version` prints ("mtlc X.Y.Z").
version=$("$mtlc" --version) || fail "'$mtlc --version' failed"
th=$(grep -m1 '^\.TH' "$page" || true)
if [ -z "$th" ]; then
  fail "$page has no .TH line"
elif [[ "$th" != *"\"$version\""* ]]; then
  fail "the .TH line of $page does not say \"$version\" (mtlc --version): $th"
fi

# Option names from an option column such as "-o FILE", "-fdiagnostics-color[=WHEN]",
# "--emit=KIND" or "-h, --help": one name per alias, without its argument.
option_names() {
  sed -e 's/^[[:space:]]*//' -e 's/  .*//' | tr ',' '\n' | sed -n -e 's/^[[:space:]]*//' -e 's/[[:space:]].*//' \
    -e 's/\[.*//' -e 's/=.*//' -e '/^-/p'
}

# 4a. --help: the lines of the list after "options:" (up to the first blank line) that start
# with white space then '-'.
"$mtlc" --help >"$tmp/help.txt" || fail "'$mtlc --help' failed"
sed -n '/^options:/,/^$/p' "$tmp/help.txt" | sed -n 's/^[[:space:]]\{1,\}\(-\)/\1/p' |
  option_names | LC_ALL=C sort -u >"$tmp/help.opts"

# 4b. The man page: in the OPTIONS section, the line after each .TP, with '\-' unescaped and
# the macro name, quotes, font escapes and other zero-width escapes removed.
sed -n '/^\.SH[[:space:]]\{1,\}"\{0,1\}OPTIONS"\{0,1\}[[:space:]]*$/,/^\.SH/p' "$page" |
  sed -n '/^\.TP/{n;p;}' |
  sed -e 's/\\-/-/g' -e 's/\\f\[[^]]*\]//g' -e 's/\\f([A-Za-z0-9][A-Za-z0-9]//g' -e 's/\\f[A-Za-z0-9]//g' \
      -e 's/\\[&%]//g' -e 's/^\.[A-Z][A-Z]*[[:space:]]*//' -e 's/"//g' |
  option_names | LC_ALL=C sort -u >"$tmp/man.opts"

if [ ! -s "$tmp/help.opts" ]; then
  fail "found no option in '$mtlc --help'"
fi
if [ ! -s "$tmp/man.opts" ]; then
  fail "found no option entry (.TP) in the OPTIONS section of $page"
fi
while read -r opt; do
  fail "in --help but not in the man page: $opt"
done < <(LC_ALL=C comm -23 "$tmp/help.opts" "$tmp/man.opts")
while read -r opt; do
  fail "in the man page but not in --help: $opt"
done < <(LC_ALL=C comm -13 "$tmp/help.opts" "$tmp/man.opts")

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "man: ok"
