#!/bin/bash
# trainer.sh TRAINER: the command line of a generated trainer (spec §10), built from tiny.mtl:
# training with validation, logs, plots and checkpoints; eval, predict and info and their
# JSON; every malformed-data case (exit 1 and a message naming the file); bit-reproducible
# training; a resumed run equal to an uninterrupted one; checkpoints that survive SIGKILL.
# Needs /usr/bin/python3 with numpy to write the data and read the outputs.
set -u
model=$1
py=/usr/bin/python3
. "$(dirname "$0")/../testlib.sh"

# Data: 50 training samples (the last batch of 8 is partial), 20 validation samples.
"$py" - <<'EOF'
import os, numpy as np
rng = np.random.default_rng(1)
for split, n in (("train", 50), ("val", 20)):
    os.makedirs(split)
    x = rng.random((n, 1, 6, 6), dtype=np.float32)
    np.save(f"{split}/x.npy", x)
    np.save(f"{split}/label.npy", (x.sum(axis=(1, 2, 3)) * 3 / 36).astype(np.int64).clip(0, 2))
    mask = (x[:, 0] > 0.5).astype(np.uint8)
    mask[:, 0, 0] = 255                                   # ignored pixels
    np.save(f"{split}/mask.npy", mask)
    np.save(f"{split}/y.npy", np.stack([x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3))], 1))
    f = (x[:, 0, :2, :2].reshape(n, 4)[:, :2] > 0.5).astype(np.float32)
    f[0, 1] = np.nan                                      # a missing label
    np.save(f"{split}/f.npy", f)
EOF

# ---- training, logs, plots ----
expect 0 "train" -- "$model" train --train train --val val --epochs 3 --log log.csv --plot plot.svg \
  --save w.safetensors --checkpoint ck.safetensors --quiet
[ "$(grep -c '^epoch [123]/3 7/7' err.txt)" -eq 3 ] && ok "one line per epoch" || { fail "one line per epoch"; cat err.txt; }
has err.txt "^  val  kind: loss [0-9.]* accuracy [0-9.]* | seg: loss [0-9.]* accuracy [0-9.]* miou" "validation line"
has log.csv "^epoch,step,loss,kind_loss,seg_loss,amount_loss,flags_loss,kind_weight,seg_weight,amount_weight,flags_weight,val_kind_accuracy,val_seg_accuracy,val_seg_miou,val_amount_rmse,val_flags_accuracy,val_flags_f1$" "CSV header"
[ "$(wc -l < log.csv)" -eq 4 ] && ok "CSV: a row per epoch" || fail "CSV: a row per epoch"
has log.csv "^3,21," "CSV: epoch and step"
check "import xml.etree.ElementTree as E; r = E.parse('plot.svg').getroot(); assert r.tag.endswith('svg')" "the plot is well-formed SVG"
[ -z "$(ls | grep '\.tmp')" ] && ok "no temporary file left" || fail "no temporary file left"
expect 2 "train without --train" -- "$model" train --epochs 2
has err.txt "train needs --train DIR" "usage message"
expect 2 "an option of another command" -- "$model" train --train train --json
expect 0 "train --help" -- "$model" train --help
has out.txt "^usage: .* train --train DIR" "train --help prints usage"
expect 2 "unknown command" -- "$model" fit

# ---- eval, predict, info ----
expect 0 "eval --json" -- "$model" eval --data val --load w.safetensors --json
check "
import json; d = json.load(open('out.txt'))
assert set(d) == {'loss', 'tasks'} and set(d['tasks']) == {'kind', 'seg', 'amount', 'flags'}
assert set(d['tasks']['seg']) == {'loss', 'accuracy', 'miou'} and set(d['tasks']['flags']) == {'loss', 'accuracy', 'f1'}
assert 0 <= d['tasks']['kind']['accuracy'] <= 1" "eval --json follows §10"
expect 0 "eval" -- "$model" eval --data val --load w.safetensors
has out.txt "^tiny on val (20 samples): loss" "eval: summary"
expect 0 "predict --probs" -- "$model" predict --data val --load w.safetensors --out pred --probs
check "
import numpy as np
k = np.load('pred/kind.npy'); s = np.load('pred/seg.npy'); f = np.load('pred/flags.npy'); a = np.load('pred/amount.npy')
assert k.shape == (20, 3) and s.shape == (20, 2, 6, 6) and f.shape == (20, 2) and a.shape == (20, 2)
assert np.allclose(k.sum(1), 1, atol=1e-5) and np.allclose(s.sum(1), 1, atol=1e-5) and ((f > 0) & (f < 1)).all()" \
  "predict writes <task>.npy with probabilities"
expect 0 "info" -- "$model" info
has out.txt "^total: [0-9]* parameters" "info: totals"
has out.txt "^memory: parameters" "info: memory"
expect 0 "info --json" -- "$model" info --json
check "import json; d = json.load(open('out.txt')); assert d['model'] == 'tiny' and d['nodes'][0]['op'] == 'input'" \
  "info --json"

# ---- malformed data: exit 1, and the message names the file and the problem ----
bad() { # bad NAME PYTHON-THAT-BREAKS-bad/ MESSAGE
  rm -rf bad && cp -r train bad
  "$py" -c "import numpy as np, os; $2"
  expect 1 "$1" -- "$model" train --train bad --quiet
  has err.txt "$3" "$1: message"
}
bad "missing file" "os.remove('bad/y.npy')" "bad/y.npy: .*No such file"
bad "wrong dtype" "np.save('bad/x.npy', np.zeros((50, 1, 6, 6), np.int32))" "bad/x.npy: dtype <i4, but the input 'x' needs |u1, <f4 or <f8"
bad "wrong shape" "np.save('bad/x.npy', np.zeros((50, 6, 6), np.float32))" "bad/x.npy: shape \[50, 6, 6\], but the input 'x' needs \[N, 1, 6, 6\]"
bad "N mismatch" "np.save('bad/label.npy', np.zeros(49, np.int64))" "bad/label.npy has 49 samples, but bad/x.npy has 50"
bad "class id out of range" "a = np.load('bad/label.npy'); a[7] = 3; np.save('bad/label.npy', a)" "bad/label.npy: element 7 is 3, outside class(3)"
bad "truncated NPY" "d = open('bad/x.npy', 'rb').read(); open('bad/x.npy', 'wb').write(d[:len(d) - 10])" "bad/x.npy: .*truncated"
bad "huge header length" "d = bytearray(open('bad/x.npy', 'rb').read()); d[8:10] = b'\xff\xff'; open('bad/x.npy', 'wb').write(d)" "bad/x.npy: "
bad "lying header" "d = open('bad/x.npy', 'rb').read().replace(b'(50, 1, 6, 6)', b'(90, 1, 6, 6)'); open('bad/x.npy', 'wb').write(d)" "bad/x.npy: .*truncated"
bad "Fortran order" "np.save('bad/x.npy', np.asfortranarray(np.zeros((50, 1, 6, 6), np.float32)))" "bad/x.npy: .*Fortran"
bad "not NPY" "open('bad/y.npy', 'w').write('hello')" "bad/y.npy: "
bad "binary target not 0/1" "a = np.load('bad/f.npy'); a[3, 0] = 0.5; np.save('bad/f.npy', a)" "bad/f.npy: element 6 is 0.5"
head -c 100 w.safetensors > cut.safetensors
expect 1 "truncated safetensors for --init" -- "$model" train --train train --init cut.safetensors --quiet
has err.txt "cut.safetensors: " "truncated safetensors: message"
expect 1 "a checkpoint is not weights" -- "$model" eval --data val --load ck.safetensors
has err.txt "ck.safetensors: unexpected tensor 'optimizer\." "--load of a checkpoint: message"
expect 1 "missing weights file" -- "$model" eval --data val --load nosuch.safetensors
has err.txt "nosuch.safetensors: " "missing weights: message"

# ---- reproducibility, resume, SIGKILL ----
run() { "$model" train --train train --epochs "$1" --seed 5 --quiet --save "$2" "${@:3}" 2>/dev/null; }
run 4 a.safetensors && run 4 b.safetensors
cmp -s a.safetensors b.safetensors && ok "same seed, same weights" || fail "same seed, same weights"
run 3 c.safetensors --seed 6
cmp -s a.safetensors c.safetensors && fail "another seed, other weights" || ok "another seed, other weights"
run 2 half.safetensors --checkpoint resume.safetensors && run 4 resumed.safetensors --resume resume.safetensors
cmp -s a.safetensors resumed.safetensors && ok "resumed run = uninterrupted run, bit for bit" || fail "resumed run = uninterrupted run"
expect 1 "resume past the end" -- "$model" train --train train --epochs 2 --resume resume.safetensors --quiet
has err.txt "has already completed 2 epochs" "resume past the end: message"

# SIGKILL at random moments of a run that checkpoints after every epoch: whatever is on
# disk always loads (resume for one step).
run 1 ck.safetensors --checkpoint kill.safetensors
survived=0
for i in $(seq 1 25); do
  "$model" train --train train --epochs 100000 --seed 5 --quiet --checkpoint kill.safetensors 2>/dev/null &
  pid=$!
  sleep "0.0$((RANDOM % 90 + 10))"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if "$model" train --train train --epochs 1000000 --resume kill.safetensors --steps 1 --quiet 2>err.txt; then
    survived=$((survived + 1))
  else
    cat err.txt
  fi
done
[ "$survived" -eq 25 ] && ok "the checkpoint loads after each of 25 SIGKILLs" || fail "checkpoint after SIGKILL: $survived of 25 load"

finish
