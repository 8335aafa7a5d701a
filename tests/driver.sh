#!/bin/bash
# driver.sh MTLC EXAMPLES_DIR: the command line of mtlc (spec §9), as chibicc's test/driver.sh
# does it: options, files, exit status, atomic outputs, depfiles and large hostile inputs.
set -u
mtlc=$1 examples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { fails=$((fails + 1)); echo "FAIL: $1"; }
# expect STATUS DESCRIPTION -- COMMAND...: runs COMMAND, checks its exit status.
expect() {
  local want=$1 what=$2; shift 3
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" -eq "$want" ]; then ok "$what"; else fail "$what: exit $got, expected $want"; cat err.txt; fi
}
has() { grep -q -- "$2" "$1" && ok "$3" || { fail "$3: '$2' not in $1"; cat "$1"; }; }

cp "$examples/tabular.mtl" model.mtl
printf 'model broken {\n  input x : f32[4];\n  task t { target y : f32[1]; out = x -> dense(2); loss = mse(out, y); }\n}\n' > broken.mtl

expect 0 "--version" -- "$mtlc" --version
has out.txt "^mtlc [0-9]*\.[0-9]*\.[0-9]*$" "--version prints the version"
expect 0 "--help" -- "$mtlc" --help
has out.txt "^usage: mtlc" "--help prints usage"
has out.txt "--emit KIND" "--help lists --emit"
expect 2 "no input" -- "$mtlc"
has err.txt "no input file" "no input: message"
expect 2 "unknown option" -- "$mtlc" --chek model.mtl
has err.txt "did you mean '--check'" "unknown option: suggestion"
expect 2 "bad --emit kind" -- "$mtlc" --emit shape model.mtl
has err.txt "did you mean 'shapes'" "bad --emit kind: suggestion"
expect 2 "missing file" -- "$mtlc" --check nosuch.mtl
has err.txt "cannot open 'nosuch.mtl'" "missing file: message"
expect 2 "two inputs" -- "$mtlc" --check model.mtl model.mtl

expect 0 "--check a valid model" -- "$mtlc" --check model.mtl
[ ! -s err.txt ] && [ ! -s out.txt ] && ok "--check is silent" || fail "--check is silent"
expect 1 "--check an invalid model" -- "$mtlc" --check broken.mtl
has err.txt "^broken.mtl:3:59: error: mse: output is \[2\] but target 'y' is f32\[1\]" "error format"
has err.txt "^1 error generated.$" "error count"
expect 0 "input from stdin" -- sh -c "\"$mtlc\" --emit shapes - < model.mtl"
has out.txt "^model tabular" "stdin: shapes"
expect 1 "stdin diagnostics name <stdin>" -- sh -c "\"$mtlc\" --check - < broken.mtl"
has err.txt "^<stdin>:3:59: error:" "stdin: file name"

expect 0 "--emit shapes -o" -- "$mtlc" --emit shapes model.mtl -o shapes.txt
has shapes.txt "^total" "-o writes the table"
expect 0 "--emit=shapes -oFILE" -- "$mtlc" --emit=shapes model.mtl -oshapes2.txt
cmp -s shapes.txt shapes2.txt && ok "option spellings agree" || fail "option spellings agree"
expect 0 "same input, same output" -- "$mtlc" --emit shapes model.mtl -o shapes3.txt
cmp -s shapes.txt shapes3.txt && ok "output is deterministic" || fail "output is deterministic"

expect 0 "--emit dot" -- "$mtlc" --emit dot model.mtl -o model.dot
has model.dot "subgraph \"cluster_shared_body\"" "dot: shared cluster"
has model.dot "subgraph \"cluster_task_regress\"" "dot: task cluster"
has model.dot "\"x\" -> \"body.0\" \[label=\"\[64\]\"\]" "dot: edge labelled with its shape"
if command -v dot >/dev/null; then
  expect 0 "dot -Tsvg renders it" -- dot -Tsvg model.dot -o model.svg
  has model.svg "<svg" "dot: svg"
else
  fail "Graphviz 'dot' is not installed"
fi

expect 0 "-MD" -- "$mtlc" --emit shapes model.mtl -o "out dir.txt" -MD
has "out dir.d" "^out\\\\ dir.txt: model.mtl$" "-MD: rule with an escaped space"
expect 0 "-MF" -- "$mtlc" --emit shapes model.mtl -o s.txt -MF deps.mk
has deps.mk "^s.txt: model.mtl$" "-MF: rule"
expect 2 "-MD needs -o" -- "$mtlc" --emit shapes model.mtl -MD
expect 2 "-MF into a missing directory" -- "$mtlc" model.mtl -o nodep.c -MF nosuchdir/deps.mk
[ ! -e nodep.c ] && [ ! -e nodep.h ] && ok "-MF into a missing directory: nothing written" \
  || fail "-MF into a missing directory: nothing written"

echo "stale" > keep.txt
expect 1 "an error leaves the old output alone" -- "$mtlc" --emit shapes broken.mtl -o keep.txt
has keep.txt "^stale$" "no partial output"
[ -z "$(ls | grep tmp)" ] && ok "no temporary file left" || fail "no temporary file left"
expect 2 "unwritable output" -- "$mtlc" --emit shapes model.mtl -o /nonexistent/dir/x.txt
sed 's/ -> dense(256) -> relu -> dense(256) -> relu;/ -> relu;/' model.mtl > unshared.mtl
expect 1 "a strategy that cannot work with the model" -- "$mtlc" unshared.mtl -o unshared.c
has err.txt "error: pcgrad combines the tasks' gradients of the shared layers, and no shared layer" "pcgrad without shared parameters: message"
[ ! -e unshared.c ] && [ ! -e unshared.h ] && ok "no C file written" || fail "no C file written"

# C generation: the file and its header beside it, or where --header says.
cp "$examples/multifashion.mtl" mf.mtl
mkdir gen
expect 0 "-o writes C" -- "$mtlc" mf.mtl -o gen/mf.c
[ -s gen/mf.c ] && [ -s gen/mf.h ] && ok "header beside the C file" || fail "header beside the C file"
has gen/mf.c '^#include "mf.h"$' "the C file includes its header"
has gen/mf.c "^ \* Generated by mtlc [0-9.]* from mf.mtl. Do not edit.$" "banner"
has gen/mf.c "^#if MTLRT_ABI_VERSION != " "ABI guard"
has gen/mf.h "^void multifashion_init(multifashion_model \*m, uint64_t seed);$" "API in the header"
has gen/mf.c "/\* mf.mtl:8: conv2d(10, kernel = 9) -> enc.0 \[10, 28, 28\] \*/" "blocks name their .mtl line"
cp gen/mf.c gen/first.c
expect 0 "same input, same C" -- "$mtlc" mf.mtl -o gen/mf.c
cmp -s gen/mf.c gen/first.c && ok "byte-identical output" || fail "byte-identical output"
expect 0 "--header" -- "$mtlc" mf.mtl -o gen/h.c --header gen/api.h
[ -s gen/api.h ] && [ ! -e gen/h.h ] && has gen/h.c '^#include "api.h"$' "--header: include"
expect 0 "--emit header" -- "$mtlc" --emit header mf.mtl -o gen/only.h
has gen/only.h "^typedef struct multifashion_model {" "--emit header writes the header"
expect 0 "C on stdout" -- "$mtlc" mf.mtl -o -
has out.txt '^#include "multifashion.h"$' "stdout: includes <model>.h"
expect 0 "--real double" -- "$mtlc" --real double mf.mtl -o gen/d.c
has gen/d.h "    double param\[MULTIFASHION_PARAMS\];" "--real double: double parameters"
expect 2 "--real with a bad type" -- "$mtlc" --real half mf.mtl -o gen/x.c
has err.txt "--real needs a type: float or double" "--real: message"

expect 1 "NO_COLOR: no escapes" -- env NO_COLOR=1 "$mtlc" --check broken.mtl
! grep -q $'\033' err.txt && ok "NO_COLOR" || fail "NO_COLOR"
expect 1 "-fdiagnostics-color=always" -- "$mtlc" -fdiagnostics-color=always --check broken.mtl
grep -q $'\033\[1;31merror' err.txt && ok "forced colour" || fail "forced colour"
sed 's/input x : f32\[64\];/&\n    input unused : f32[2];/' model.mtl > warn.mtl
expect 0 "a warning alone" -- "$mtlc" --check warn.mtl
has err.txt "^warn.mtl:5:11: warning: input 'unused' is never used$" "warning format"
expect 1 "-Werror" -- "$mtlc" -Werror --check warn.mtl
has err.txt "error: input 'unused' is never used \[-Werror\]" "-Werror: message"
sed 's/input x : f32\[64\];/&\n    input unused : f32[2];\n    input spare : f32[3];/' model.mtl > warn2.mtl
expect 1 "-Werror with two warnings" -- "$mtlc" -Werror --check warn2.mtl
has err.txt "^2 errors generated.$" "-Werror: every warning becomes an error"

# Hostile inputs: 1 MiB of random bytes and 1 MiB of random tokens, each under a second.
head -c 1048576 /dev/urandom > random.mtl
awk 'BEGIN { srand(7); split("model input shared task target loss { } ( ) [ ] , ; : = -> * + . - x y conv2d dense 3 0.5 1e-3 f32 class", t, " ");
             for (n = 0; n < 1048576; ) { w = t[int(rand() * 30) + 1]; printf "%s ", w; n += length(w) + 1 } }' > tokens.mtl
# Big but well-formed: 50 000 inputs (50 000 warnings and no task), 100 000 layers in one chain.
awk 'BEGIN { print "model m {"; for (i = 0; i < 50000; i++) print "input a" i " : f32[1];"; print "}" }' > inputs.mtl
awk 'BEGIN { printf "model m { input x : f32[4]; task t { target y : f32[4]; o = x"
             for (i = 0; i < 100000; i++) printf " -> relu"; print "; loss = mse(o, y); } objective = t + u; }" }' > layers.mtl
for f in random.mtl tokens.mtl inputs.mtl layers.mtl; do
  start=$(date +%s%N)
  expect 1 "$f: exit 1" -- timeout 10 "$mtlc" --check "$f"
  ms=$((($(date +%s%N) - start) / 1000000))
  # Each takes about 0.2 s; the limit catches a blow-up, with room for a loaded CI machine.
  [ "$ms" -lt 5000 ] && ok "$f: ${ms} ms" || fail "$f: ${ms} ms (limit 5000)"
  [ "$(grep -c ': error: ' err.txt)" -le 20 ] && ok "$f: at most 20 errors" || fail "$f: error cap"
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
