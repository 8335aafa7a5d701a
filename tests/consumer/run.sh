#!/bin/bash
# run.sh BUILD_DIR SPEC_EXAMPLES GENERATOR: installs the build tree into a fresh prefix, builds
# tests/consumer against it with find_package(mtlc CONFIG) under GENERATOR, trains with a
# trainer it built and evaluates the weights (needs /usr/bin/python3 with numpy), and checks what each rebuild regenerates: nothing when nothing changed, only the touched
# model when one .mtl changes, every model when mtlc changes.
# run.sh --in-tree SOURCE_DIR SPEC_EXAMPLES GENERATOR: the same with mtlc built from a copy of
# its source tree (add_subdirectory); mtlc changes when one of its sources does.
set -euo pipefail
in_tree=0
[ "$1" = --in-tree ] && in_tree=1 && shift
tree=$(realpath "$1") examples=$(realpath "$2") generator=$3
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /tmp/mtlc-consumer-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "consumer ($generator): $*" >&2
  exit 1
}

if [ $in_tree = 1 ]; then # a copy, whose compiler sources the test may touch
  mkdir "$work/src"
  (cd "$tree" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
  mtlc_changes="$work/src/compiler/main.c" where=(-DMTLC_SOURCE="$work/src" -DCMAKE_C_COMPILER=clang)
else
  cmake --install "$tree" --prefix "$work/prefix" >/dev/null
  mtlc_changes="$work/prefix/bin/mtlc" where=(-DCMAKE_PREFIX_PATH="$work/prefix")
fi
mkdir "$work/models"
cp "$examples/tabular.mtl" "$examples/multifashion.mtl" "$work/models/"
cmake -S "$here" -B "$work/b" -G "$generator" "${where[@]}" -DMODELS="$work/models" \
  >"$work/configure.log" || { cat "$work/configure.log"; fail "configure failed"; }

# build; prints the models mtlc (re)generated, one per line, sorted
generated() {
  cmake --build "$work/b" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build failed"; }
  grep -o 'mtlc: [^ ]*\.mtl' "$work/build.log" | sed 's|.*/||' | sort | tr '\n' ' ' || true
}

got=$(generated)
[ "$got" = "multifashion.mtl tabular.mtl " ] || fail "the first build generated '$got'"
/usr/bin/python3 "$here/tabular_data.py" "$work/data"
"$work/b/tabular_trainer" train --train "$work/data" --epochs 2 --save "$work/w.safetensors" --quiet \
  >"$work/train.log" 2>&1 || { cat "$work/train.log"; fail "tabular_trainer train failed"; }
"$work/b/tabular_trainer" eval --data "$work/data" --load "$work/w.safetensors" >"$work/eval.log" 2>&1 ||
  { cat "$work/eval.log"; fail "tabular_trainer eval failed"; }
[ -x "$work/b/multifashion_trainer" ] && [ -f "$work/b/generated/multifashion.h" ] ||
  fail "no multifashion trainer, or its header is not in OUTPUT_DIR"

got=$(generated)
[ -z "$got" ] || fail "a no-op rebuild regenerated '$got'"

sleep 1 # a coarser file system clock must see the change
touch "$work/models/tabular.mtl"
got=$(generated)
[ "$got" = "tabular.mtl " ] || fail "touching tabular.mtl regenerated '$got'"

sleep 1
touch "$mtlc_changes"
got=$(generated)
[ "$got" = "multifashion.mtl tabular.mtl " ] || fail "a new mtlc regenerated '$got'"
echo "consumer ($generator): ok"
