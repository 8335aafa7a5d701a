#!/bin/bash
# compile.sh MTLC RUNTIME_INCLUDE MODEL.mtl...: the generated code of each model, in float and
# in double, compiles with gcc and with clang under the flags of spec §10, and its object
# file calls no allocator.
set -u
mtlc=$1 include=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
for mtl in "$@"; do
  name=$(basename "$mtl" .mtl)
  for real in float double; do
    c=$tmp/$name-$real.c
    if ! "$mtlc" --real $real "$mtl" -o "$c"; then
      echo "FAIL: mtlc $mtl (--real $real)"; fails=$((fails + 1)); continue
    fi
    for cc in gcc clang; do
      checks=$((checks + 1))
      o=$tmp/$name-$real-$cc.o
      if ! $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -O1 -I"$include" -c "$c" -o "$o"; then
        echo "FAIL: $cc $name ($real)"; fails=$((fails + 1)); continue
      fi
      alloc=$(nm -u "$o" | grep -wE 'malloc|calloc|realloc|free|aligned_alloc|posix_memalign')
      if [ -n "$alloc" ]; then
        echo "FAIL: $cc $name ($real) references: $alloc"; fails=$((fails + 1))
      else
        echo "ok: $cc $name ($real): $(wc -c < "$c") bytes of C, $(size "$o" | awk 'NR == 2 { print $1 }') bytes of code"
      fi
    done
  done
done
echo "$((checks - fails)) of $checks compiled cleanly"
[ "$fails" -eq 0 ]
