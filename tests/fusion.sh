#!/bin/bash
# fusion.sh MTLC GRADCHECK_FUSED SPEC_EXAMPLES: which convolutions mtlc fuses with the max
# pool after them (Ins.pool), counted in the generated code: every conv -> [relu ->] maxpool
# [-> relu] chain whose intermediate values nothing else reads, and none when the batch is
# under 16 (the fused kernels' scratch holds a sample per thread).
set -u
mtlc=$1 fused=$2 examples=$3
status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# expect NAME MTL FUSED PLAIN: the counts of fused and plain conv2d forward calls
expect() {
  if ! "$mtlc" "$2" -o "$work/model.c" 2>"$work/err"; then
    echo "FAIL: $1: mtlc: $(cat "$work/err")"
    status=1
    return
  fi
  local fused plain comments
  fused=$(grep -c 'mtlrt_conv2d_pool_fwd_f32(' "$work/model.c")
  plain=$(grep -c 'mtlrt_conv2d_fwd_f32(' "$work/model.c")
  comments=$(grep -c 'done by the convolution before it, fused' "$work/model.c")
  if [ "$fused" = "$3" ] && [ "$plain" = "$4" ] && { [ "$3" = 0 ] || [ "$comments" -ge "$3" ]; }; then
    echo "ok: $1: $fused fused, $plain plain"
  else
    echo "FAIL: $1: $fused fused and $plain plain convolutions ($comments fused-node comments), expected $3 and $4"
    status=1
  fi
}

expect gradcheck/fused.mtl "$fused" 3 1
sed 's/batch = 17/batch = 15/' "$fused" >"$work/small_batch.mtl"
expect "gradcheck/fused.mtl, batch 15" "$work/small_batch.mtl" 0 4
expect multifashion "$examples/multifashion.mtl" 2 0
expect seed_cifar "$examples/seed_cifar.mtl" 3 1
exit $status
