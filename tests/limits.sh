#!/bin/bash
# limits.sh MTLC MODEL...: mtlc's limits and its determinism.
# - A model over the static-memory budget (default 4 GiB, --max-memory SIZE) is an error at
#   its batch setting, with notes at its largest buffers, and nothing is written.
# - Sizes past what any int64 or the generated code's offsets hold are errors, not overflows.
# - The output for the same input is byte-identical from run to run: C, header, dot, shapes
#   and depfile, whatever the environment, the working directory or the heap's layout.
set -u
mtlc=$1
shift
export NO_COLOR=1 # plain diagnostics, for grep
. "$(dirname "$0")/testlib.sh"

big() { # big BATCH: a model whose activations grow with the batch, 64 MiB per sample and buffer
  cat >big.mtl <<EOF
model big {
    input image : f32[64, 512, 512];
    shared trunk = image -> conv2d(64, kernel = 3, pad = 1) -> relu;
    task t {
        target label : class(10);
        out = trunk -> global_avgpool -> dense(10);
        loss = cross_entropy(out, label);
    }
    batch = $1;
}
EOF
}

# ---- the budget ----
big 64
expect 1 "16 GiB is over the default budget" -- "$mtlc" big.mtl -o big.c
has err.txt "^big.mtl:9:13: error: the model needs 16.0 GiB of static memory, over the budget of 4.0 GiB (mtlc --max-memory SIZE)$" \
  "the error: the total, the budget, at the batch"
has err.txt "^big.mtl:3:29: note: the output of trunk.0 (conv2d): 4.0 GiB$" "a note at the largest buffer"
[ "$(grep -c ': note: ' err.txt)" -eq 3 ] && ok "three notes" || fail "three notes"
[ ! -e big.c ] && [ ! -e big.h ] && ok "nothing written" || fail "nothing written"
expect 1 "a larger budget, but more than the generated code can address" -- "$mtlc" big.mtl -o big.c --max-memory 1T
has err.txt "error: the model needs [0-9]* elements in one array, more than the 2147483647 that the generated code can address" \
  "the addressing limit"
big 4
expect 0 "1 GiB fits the default budget" -- "$mtlc" big.mtl -o big.c
expect 1 "but not --max-memory 100M" -- "$mtlc" big.mtl -o small.c --max-memory 100M
has err.txt "error: the model needs 1.0 GiB of static memory, over the budget of 100.0 MiB" "--max-memory: message"
expect 0 "--max-memory=2G" -- "$mtlc" big.mtl -o big.c --max-memory=2G
expect 0 "--max-memory in bytes" -- "$mtlc" big.mtl -o big.c --max-memory 2147483648
for bad in 0 12Q -5 1.5G G 99999999999T ""; do
  expect 2 "--max-memory '$bad' is bad usage" -- "$mtlc" big.mtl -o big.c --max-memory "$bad"
done

# ---- sizes past int64: saturated and refused, never wrapped (the sanitizer build checks) ----
cat >huge.mtl <<'EOF'
model huge {
    input x : f32[2147483647];
    shared a = x -> relu -> relu -> relu -> relu -> relu -> relu -> relu -> relu;
    task t {
        target y : f32[2147483647];
        out = a -> relu;
        loss = mse(out, y);
    }
    batch = 1048576;
}
EOF
expect 1 "2^51-element buffers" -- "$mtlc" huge.mtl -o huge.c
has err.txt "^huge.mtl:9:13: error: the model needs .* of static memory, over the budget of 4.0 GiB" "huge: a budget error"

# ---- the same input, the same bytes ----
for model in "$@"; do
  name=$(basename "$model" .mtl)
  for run in 1 2; do
    mkdir -p "run$run" && cp "$model" "run$run/$name.mtl"
  done
  # The second run elsewhere, with another environment and a perturbed heap.
  (cd run1 && "$mtlc" "$name.mtl" -o "$name.c" -MD && "$mtlc" "$name.mtl" --emit dot -o "$name.dot" &&
   "$mtlc" "$name.mtl" --emit shapes -o "$name.shapes" && "$mtlc" "$name.mtl" --real double -o "${name}64.c") 2>/dev/null
  (cd run2 && env -i PATH="$PATH" LANG=C.UTF-8 TZ=Asia/Kolkata MALLOC_PERTURB_=165 MTLC_UNUSED=1 sh -c \
   "'$mtlc' '$name.mtl' -o '$name.c' -MD && '$mtlc' '$name.mtl' --emit dot -o '$name.dot' &&
    '$mtlc' '$name.mtl' --emit shapes -o '$name.shapes' && '$mtlc' '$name.mtl' --real double -o '${name}64.c'") 2>/dev/null
  same=1
  for f in "$name.c" "$name.h" "$name.d" "$name.dot" "$name.shapes" "${name}64.c" "${name}64.h"; do
    if [ ! -s "run1/$f" ] || ! cmp -s "run1/$f" "run2/$f"; then same=0; echo "differs or missing: $f"; fi
  done
  [ "$same" -eq 1 ] && ok "$name: byte-identical output" || fail "$name: byte-identical output"
  rm -rf run1 run2
done

finish
