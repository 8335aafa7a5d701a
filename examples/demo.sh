#!/bin/bash
# demo.sh: the README's first command. On a Debian machine it installs what is missing,
# builds mtlc and libmtlrt, builds Multi-Fashion from Debian's Fashion-MNIST, compiles the
# spec's three-task model (two classifiers and a segmentation, balanced by learned
# uncertainty) to C, trains it with a progress bar and prints its test metrics per task.
# DEMO_TRAIN=N (default 120000, the whole training split) and DEMO_EPOCHS=N (default 3) set
# the budget, DEMO_THREADS=N the threads (default: every core).
set -euo pipefail
cd "$(dirname "$0")/.."
train=${DEMO_TRAIN:-120000} epochs=${DEMO_EPOCHS:-3} threads=${DEMO_THREADS:-$(nproc)}

need=()
for pkg in cmake make flex bison clang zlib1g-dev dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== building mtlc and libmtlrt"
cmake -S . -B build -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j --target mtlc mtlrt make_multifashion >/dev/null

echo "== Multi-Fashion: $train training and 20000 test images of two overlapping items"
mkdir -p build/demo
build/examples/multifashion/make_multifashion --train-size "$train" --test-size 20000 build/demo/data

model=../shared/spec/examples/fashion_cls_seg.mtl
echo "== compiling the model: $model -> build/demo/fashion_cls_seg.c"
build/compiler/mtlc "$model" -o build/demo/fashion_cls_seg.c
cc -std=c11 -O3 -march=native -Iruntime/include build/demo/fashion_cls_seg.c build/runtime/libmtlrt.a -lm \
  -lpthread -o build/demo/fashion_cls_seg

echo "== training ($epochs epoch(s), $threads thread(s))"
build/demo/fashion_cls_seg train --train build/demo/data/train --epochs "$epochs" --threads "$threads" \
  --save build/demo/weights.safetensors --log build/demo/log.csv --plot build/demo/history.svg

echo "== test metrics"
build/demo/fashion_cls_seg eval --data build/demo/data/test --load build/demo/weights.safetensors --threads "$threads"
