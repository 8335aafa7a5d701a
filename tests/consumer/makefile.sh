#!/bin/bash
# makefile.sh BUILD_DIR SPEC_EXAMPLES: installs the build tree into a fresh prefix, builds
# examples/make/Makefile against it (mtlc from the prefix, mtlrt.pc through pkg-config), trains
# with the trainer (needs /usr/bin/python3 with numpy), and checks that make regenerates nothing when nothing changed and the model
# when its .mtl or mtlc changes.
set -euo pipefail
build=$(realpath "$1") examples=$(realpath "$2")
makefile=$(dirname "$(realpath "$0")")/../../examples/make/Makefile
work=$(mktemp -d /tmp/mtlc-makefile-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "makefile: $*" >&2
  exit 1
}

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cp "$examples/tabular.mtl" "$work/"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
run_make() {
  make -C "$work" -f "$makefile" MODEL="$work/tabular.mtl" MTLC="$work/prefix/bin/mtlc" "$@" >"$work/make.log" 2>&1 ||
    { cat "$work/make.log"; fail "make failed"; }
}
regenerated() { grep -c "prefix/bin/mtlc" "$work/make.log" || true; }

run_make
[ "$(regenerated)" = 1 ] || fail "the first make did not run mtlc once: $(cat "$work/make.log")"
/usr/bin/python3 "$(dirname "$(realpath "$0")")/tabular_data.py" "$work/data"
"$work/tabular" train --train "$work/data" --epochs 1 --quiet >"$work/train.log" 2>&1 ||
  { cat "$work/train.log"; fail "the trainer does not train"; }
grep -q "^tabular.c: $work/tabular.mtl" "$work/tabular.d" || fail "no depfile: $(cat "$work/tabular.d")"
run_make
[ "$(regenerated)" = 0 ] || fail "a no-op make ran mtlc"
sleep 1
touch "$work/tabular.mtl"
run_make
[ "$(regenerated)" = 1 ] || fail "touching tabular.mtl did not regenerate it"
sleep 1
touch "$work/prefix/bin/mtlc"
run_make
[ "$(regenerated)" = 1 ] || fail "a new mtlc did not regenerate the model"
echo "makefile: ok"
