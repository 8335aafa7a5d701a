#!/bin/bash
# passes.sh MTLC MODEL.mtl...: how many backward passes go through the shared trunk of each
# model (tests/parity/strategies' copies, named BASE_STRATEGY.mtl, and the base itself): every
# backward block of the generated C carries the comment of its node, as the forward block
# does, so the first trunk node appears once per pass plus once in the forward. The
# loss-weighting objectives need one pass, MGDA-UB one (its per-task passes stop at the
# representation), the strategies on the shared parameters' gradients one per task.
set -u
mtlc=$1
shift
status=0
for mtl in "$@"; do
  name=$(basename "$mtl" .mtl)
  strategy=${name#*_}
  [ "$strategy" = "$name" ] && strategy=sum
  case $strategy in
    pcgrad | imtl | cagrad | nash_mtl) want=3 ;;
    *) want=1 ;;
  esac
  out=$(mktemp -d)
  if ! "$mtlc" "$mtl" -o "$out/model.c" 2>"$out/err"; then
    echo "FAIL: $name: mtlc: $(cat "$out/err")"
    status=1
  else
    first=$(grep -m1 -o -- '-> trunk\.0 \[' "$out/model.c" | head -1)
    seen=$(grep -c -- '-> trunk\.0 \[' "$out/model.c")
    passes=$((seen - 1))
    if [ -n "$first" ] && [ "$passes" -eq "$want" ]; then
      echo "ok: $name ($strategy): $passes backward pass(es) through the trunk"
    else
      echo "FAIL: $name ($strategy): $passes backward pass(es) through the trunk, expected $want"
      status=1
    fi
  fi
  rm -rf "$out"
done
exit $status
