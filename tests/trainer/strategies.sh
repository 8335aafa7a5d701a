#!/bin/bash
# strategies.sh TRAINER...: the trainers of tests/parity/strategies/mlp3.mtl's copies (one
# per strategy, spec §7) on random data: a run resumed from a checkpoint ends bit for bit
# where an uninterrupted run does, so the strategy's state (dwa's loss history, gradnorm's
# weights and first losses, nash_mtl's last solution, the draws of rlw and pcgrad) is saved
# and restored; the CSV log has each task's weight per epoch, and they are the strategy's;
# --only TASK trains the single-task baseline.
# Needs /usr/bin/python3 with numpy.
set -u
py=/usr/bin/python3
. "$(dirname "$0")/../testlib.sh"

"$py" - "$tmp/data" <<'PY'
import os, sys, numpy as np
d = sys.argv[1]
os.makedirs(d)
rng = np.random.default_rng(7)
x = rng.standard_normal((60, 10)).astype(np.float32)
np.save(f"{d}/x.npy", x)
np.save(f"{d}/y.npy", (x[:, :4].argmax(1)).astype(np.int64))
np.save(f"{d}/r.npy", np.stack([x[:, 4] * x[:, 5], np.sin(x[:, 6])], 1).astype(np.float32))
k = (x[:, 7] > 0).astype(np.int64) + (x[:, 8] > 1)
k[rng.random(60) < 0.3] = 9  # missing labels
np.save(f"{d}/k.npy", k)
PY

for trainer in "$@"; do
  name=$(basename "$trainer")
  strategy=${name#trainer_mlp3_}
  run() { "$trainer" train --train "$tmp/data" --seed 3 --quiet "$@" 2>"$tmp/err.txt" || cat "$tmp/err.txt"; }
  run --epochs 4 --save "$tmp/a.safetensors" --log "$tmp/a.csv"
  run --epochs 2 --checkpoint "$tmp/half.safetensors"
  run --epochs 4 --resume "$tmp/half.safetensors" --save "$tmp/b.safetensors"
  if cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors"; then
    ok "$strategy: resumed run = uninterrupted run, bit for bit"
  else
    fail "$strategy: resumed run differs from the uninterrupted one"
    cmp "$tmp/a.safetensors" "$tmp/b.safetensors"
  fi
  if "$py" - "$tmp/a.csv" "$strategy" <<'PY'; then ok "$strategy: task weights in the log"; else fail "$strategy: task weights in the log"; fi
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{sys.argv[2]}: weights per epoch", [[r[f"{t}_weight"] for t in ("cls", "reg", "tag")] for r in rows])
w = [[float(r[f"{t}_weight"]) for t in ("cls", "reg", "tag")] for r in rows]
assert len(w) == 4, w
if sys.argv[2] in ("dwa",):  # 1 until two epochs have ended, then T * softmax: sum 3
    assert w[0] == w[1] == [1.0, 1.0, 1.0] and abs(sum(w[3]) - 3) < 1e-5 and w[3] != [1.0, 1.0, 1.0], w
if sys.argv[2] in ("rlw", "mgda"):  # on the simplex
    assert all(abs(sum(r) - 1) < 1e-5 and min(r) >= 0 for r in w), w
if sys.argv[2] == "gradnorm":  # renormalised to sum T, and moved
    assert w[3] != [1.0, 1.0, 1.0], w
PY
  rm -f "$tmp"/*.safetensors "$tmp"/*.csv
done

# The single-task baseline: only reg learns; the other tasks' losses are left out (0).
trainer=$1
"$trainer" train --train "$tmp/data" --epochs 2 --only reg --quiet --log "$tmp/only.csv" 2>"$tmp/err.txt"
if "$py" -c "
import csv, sys
rows = list(csv.DictReader(open('$tmp/only.csv')))
assert all(float(r['cls_loss']) == 0 and float(r['tag_loss']) == 0 and float(r['reg_loss']) > 0 for r in rows), rows
"; then ok "--only reg: the other tasks left out"; else fail "--only reg"; cat "$tmp/err.txt"; fi
"$trainer" train --train "$tmp/data" --only nosuch --quiet 2>"$tmp/err.txt"
if [ $? -eq 2 ] && grep -q "no such task (its tasks: cls, reg, tag)" "$tmp/err.txt"; then
  ok "--only with an unknown task: exit 2 and the tasks"
else
  fail "--only with an unknown task"
  cat "$tmp/err.txt"
fi
finish
