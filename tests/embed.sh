#!/bin/bash
# embed.sh MTLC LIBMTLRT_A INCLUDE_DIR TABULAR_MTL: builds examples/embed/embed.c against the
# tabular model generated with --no-main, runs it (data, training, checkpoint, predictions
# through the C API), checks that its loss went down, and that the generated trainer reads
# what it wrote: `eval` of its data set with its checkpoint succeeds, reports every task and
# has learnt something, and refuses a truncated copy of the checkpoint. $CC picks the
# compiler (default cc); $CFLAGS and $LDFLAGS are added to its flags, as make does.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 MTLC LIBMTLRT_A INCLUDE_DIR TABULAR_MTL" >&2
  exit 2
fi
mtlc=$(realpath "$1") lib=$(realpath "$2") include=$(realpath "$3") mtl=$(realpath "$4")
src=$(realpath "$(dirname "$0")/../examples/embed/embed.c")
cc=${CC:-cc}
flags=(-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror)
read -ra cflags <<<"${CFLAGS-}"
read -ra ldflags <<<"${LDFLAGS-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "embed: FAIL: $*" >&2
  exit 1
}
# show FILE...: the files, on stderr, for a failure's context
show() { for f in "$@"; do echo "--- $f" >&2; cat "$f" >&2; done; }

# The embedding program, from the header and code of mtlc --no-main.
mkdir "$tmp/gen" "$tmp/trainer"
"$mtlc" "$mtl" --no-main -o "$tmp/gen/tabular.c"
"$cc" "${flags[@]}" "${cflags[@]}" -I"$tmp/gen" -I"$include" "$src" "$tmp/gen/tabular.c" "${ldflags[@]}" \
  "$lib" -lm -lpthread -o "$tmp/embed"
# The generated trainer, from the same model.
"$mtlc" "$mtl" -o "$tmp/trainer/tabular.c"
"$cc" "${flags[@]}" "${cflags[@]}" -I"$tmp/trainer" -I"$include" "$tmp/trainer/tabular.c" "${ldflags[@]}" \
  "$lib" -lm -lpthread -o "$tmp/trainer/tabular"
trainer=$tmp/trainer/tabular

# Run it: the data set, the training and the checkpoint.
out=$tmp/out
status=0
"$tmp/embed" "$out" >"$tmp/embed.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || { show "$tmp/embed.log"; fail "embed exited with $status"; }
for f in data/x.npy data/kind.npy data/price.npy data/fraud.npy weights.safetensors; do
  [ -s "$out/$f" ] || { show "$tmp/embed.log"; fail "embed did not write $f"; }
done
[ -z "$(find "$out" -name '*.tmp')" ] || fail "embed left a temporary file"
grep -q '^sample 0: kind ' "$tmp/embed.log" || { show "$tmp/embed.log"; fail "no predictions printed"; }

# The loss of the last epoch is below the first's ("epoch E/N loss X ...", one line per epoch).
awk '/^epoch / { for (i = 1; i < NF; i++) if ($i == "loss") v = $(i + 1) + 0
                 if (n++ == 0) first = v; last = v }
     END { if (n < 2) { print "fewer than 2 epochs printed"; exit 1 }
           if (!(last < first)) { print "the loss went from " first " to " last; exit 1 } }' \
  "$tmp/embed.log" >"$tmp/awk.log" || { show "$tmp/embed.log"; fail "$(cat "$tmp/awk.log")"; }

# The trainer evaluates the checkpoint on the data set: every task in its JSON.
status=0
"$trainer" eval --data "$out/data" --load "$out/weights.safetensors" --json >"$tmp/eval.json" \
  2>"$tmp/eval.err" || status=$?
[ "$status" -eq 0 ] || { show "$tmp/eval.err"; fail "eval exited with $status"; }
for task in classify regress detect; do
  grep -q "\"$task\": *{\"loss\": *[0-9]" "$tmp/eval.json" || { show "$tmp/eval.json"; fail "eval --json lacks task $task"; }
done
# The weights were learnt, not the trainer's own initialisation: classes are mostly right (chance is 0.1).
acc=$(sed -n 's/.*"classify": *{[^}]*"accuracy": *\([0-9.eE+-]*\).*/\1/p' "$tmp/eval.json")
awk -v a="$acc" 'BEGIN { exit !(a != "" && a + 0 >= 0.5) }' ||
  { show "$tmp/eval.json"; fail "classify accuracy '$acc' is below 0.5"; }

# A truncated checkpoint is refused: a non-zero exit status (not a crash), a message naming the file.
size=$(wc -c <"$out/weights.safetensors")
for keep in $((size - 100)) $((size / 2)) 16 0; do
  cut=$tmp/cut.safetensors
  head -c "$keep" "$out/weights.safetensors" >"$cut"
  status=0
  "$trainer" eval --data "$out/data" --load "$cut" --json >"$tmp/cut.out" 2>"$tmp/cut.err" || status=$?
  [ "$status" -ne 0 ] || { show "$tmp/cut.out"; fail "eval accepted a checkpoint cut to $keep of $size bytes"; }
  [ "$status" -lt 128 ] || { show "$tmp/cut.err"; fail "eval crashed (status $status) on a checkpoint cut to $keep bytes"; }
  grep -q "cut.safetensors" "$tmp/cut.err" || { show "$tmp/cut.err"; fail "no message naming the truncated file"; }
done

echo "embed: ok"
