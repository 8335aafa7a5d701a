#!/bin/bash
# guards.sh TRAINER: the generated trainer's guards (built from tiny.mtl).
# - --on-nan stop|skip. A NaN or an infinity in the data, a loss or the weights stops
#   training. The message names the step, the tasks and where the value first appeared.
#   The last checkpoint stays as it was, or with skip the batch leaves no trace.
# - Checkpoints of another model, or of another layout, are refused.
# - Outputs that would replace the run's data or weights are refused.
# - The files it opens are exactly the ones it was given, and those derived from them (strace).
# Needs /usr/bin/python3 with numpy, and strace.
set -u
model=$1
py=/usr/bin/python3
. "$(dirname "$0")/../testlib.sh"

# Data sets of 50 samples (7 batches of 8): train is clean; nanx has a NaN in the input of
# sample 21 (batch 3 in file order); infy has an infinite regression target in sample 30
# (batch 4).
"$py" - <<'EOF'
import os, numpy as np
rng = np.random.default_rng(1)
for split in ("train", "nanx", "infy"):
    os.makedirs(split)
    x = rng.random((50, 1, 6, 6), dtype=np.float32)
    y = np.stack([x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3))], 1)
    if split == "nanx":
        x[21, 0, 2, 3] = np.nan
    if split == "infy":
        y[30, 1] = np.inf
    np.save(f"{split}/x.npy", x)
    np.save(f"{split}/label.npy", (np.nan_to_num(x).sum(axis=(1, 2, 3)) * 3 / 36).astype(np.int64).clip(0, 2))
    np.save(f"{split}/mask.npy", (x[:, 0] > 0.5).astype(np.uint8))
    np.save(f"{split}/y.npy", y)
    np.save(f"{split}/f.npy", (x[:, 0, 0, :2] > 0.5).astype(np.float32))
EOF
finite_eval() { # finite_eval WEIGHTS DESCRIPTION: every loss and metric on train is a number
  "$model" eval --data train --load "$1" --json >eval.json 2>err.txt || { fail "$2: eval"; cat err.txt; return; }
  check "import json; d = json.load(open('eval.json')); v = [d['loss']] + [x for t in d['tasks'].values() for x in t.values()]
assert all(isinstance(x, float) for x in v), v" "$2"
}

# ---- --on-nan stop (the default) ----
expect 0 "one clean epoch, checkpointed" -- "$model" train --train train --epochs 1 --checkpoint ck.safetensors --quiet
cp ck.safetensors ck.before
expect 1 "a NaN in the data stops training" -- "$model" train --train nanx --no-shuffle --epochs 2 \
  --resume ck.safetensors --checkpoint ck.safetensors --save w.safetensors --quiet
has err.txt "error: step 10 (epoch 2, batch 3): a NaN or an infinity" "stop: the step, the epoch and the batch"
has err.txt "first appeared in the data: the input 'x' of sample 21 of nanx/x.npy" "stop: the input sample"
has err.txt "training stopped, nothing saved since resuming from ck.safetensors" "stop: what is on disk"
cmp -s ck.safetensors ck.before && ok "stop: the last checkpoint is untouched" || fail "stop: the last checkpoint is untouched"
[ ! -e w.safetensors ] && ok "stop: --save is not written" || fail "stop: --save is not written"
[ -z "$(ls | grep '\.tmp')" ] && ok "stop: no temporary file left" || fail "stop: no temporary file left"

expect 1 "an infinite target stops training" -- "$model" train --train infy --no-shuffle --quiet
has err.txt "step 4 (epoch 1, batch 4): a NaN or an infinity in task 'amount' (loss inf)" "stop: the task and its loss"
has err.txt "first appeared in the loss of task 'amount' (mse), computed from finite outputs of node 'amount.out.1' (dense, line 22, task 'amount')" \
  "stop: the loss, its task and the layer before it"

expect 1 "diverging weights stop training" -- "$model" train --train train --lr 1e30 --quiet
has err.txt "step 2 (epoch 1, batch 2): a NaN or an infinity in task" "divergence: the step and the tasks"
has err.txt "first appeared in the forward pass, in the output of node '[a-z.0-9]*' ([a-z_0-9]*, line [0-9]*, " \
  "divergence: the first layer"

# ---- --on-nan skip ----
expect 0 "skip: an infinite target" -- "$model" train --train infy --no-shuffle --epochs 2 --on-nan skip \
  --log skip.csv --save skip.safetensors --quiet
has err.txt "warning: step 4 (epoch 1, batch 4): a NaN or an infinity in task 'amount' (loss inf)" "skip: a warning per batch"
[ "$(grep -c '^  skipped 1 batch with a NaN or an infinity' err.txt)" -eq 2 ] && ok "skip: one batch per epoch" \
  || { fail "skip: one batch per epoch"; cat err.txt; }
has skip.csv "^2,12," "skip: skipped batches are not optimizer steps"
finite_eval skip.safetensors "skip: the weights are finite"
expect 0 "skip: a NaN in the data" -- "$model" train --train nanx --no-shuffle --on-nan skip --save skipx.safetensors --quiet
finite_eval skipx.safetensors "skip: the running statistics never saw the NaN batch"
expect 2 "--on-nan takes stop or skip" -- "$model" train --train train --on-nan ignore
has err.txt "invalid value 'ignore' for --on-nan" "--on-nan: message"

# ---- checkpoints of another model ----
expect 0 "weights" -- "$model" train --train train --save w.safetensors --quiet
retag() { # retag IN OUT PYTHON-ON-META: rewrites the metadata of a safetensors file
  "$py" - "$1" "$2" "$3" <<'EOF'
import json, struct, sys
src, dst, edit = sys.argv[1:]
d = open(src, "rb").read()
n = struct.unpack("<Q", d[:8])[0]
h = json.loads(d[8:8 + n])
meta = h.get("__metadata__", {})
exec(edit)
if meta:
    h["__metadata__"] = meta
else:
    h.pop("__metadata__", None)
head = json.dumps(h).encode()
head += b" " * (-len(head) % 8)
open(dst, "wb").write(struct.pack("<Q", len(head)) + head + d[8 + n:])
EOF
}
check "
import json, struct; d = open('w.safetensors', 'rb').read(); m = json.loads(d[8:8 + struct.unpack('<Q', d[:8])[0]])['__metadata__']
assert m['model'] == 'tiny' and len(m['layout']) == 16 and int(m['layout'], 16) >= 0, m" "the weights carry the model and its layout"
retag w.safetensors other.safetensors "meta['model'] = 'other'"
expect 1 "eval refuses another model's weights" -- "$model" eval --data train --load other.safetensors
has err.txt "other.safetensors: a checkpoint of the model 'other', not of 'tiny'" "another model: message"
expect 1 "train --init refuses them" -- "$model" train --train train --init other.safetensors --quiet
retag ck.safetensors otherck.safetensors "meta['model'] = 'other'"
expect 1 "train --resume refuses another model's checkpoint" -- "$model" train --train train --epochs 3 --resume otherck.safetensors
has err.txt "otherck.safetensors: a checkpoint of the model 'other', not of 'tiny'" "--resume: message"
retag w.safetensors old.safetensors "meta['layout'] = '0123456789abcdef'"
expect 1 "another layout is refused" -- "$model" eval --data train --load old.safetensors
has err.txt "old.safetensors: written by another version of the model 'tiny': .*(layout 0123456789abcdef)" "another layout: message"
retag w.safetensors bare.safetensors "meta = {}"
expect 0 "a file without metadata (as PyTorch writes it) loads" -- "$model" eval --data train --load bare.safetensors

# ---- outputs that would replace the run's input ----
for opt in --save --checkpoint --log --plot; do
  expect 1 "$opt onto a data file is refused" -- "$model" train --train train $opt train/y.npy --quiet
  has err.txt "$opt train/y.npy is the data file train/y.npy: the trainer never overwrites its input" "$opt: message"
done
ln -s train/label.npy link.safetensors
expect 1 "another spelling of a data file is refused" -- "$model" train --train train --val nanx --save nanx/../train/label.npy --quiet
expect 1 "a link to a data file is refused" -- "$model" train --train train --checkpoint link.safetensors --quiet
has err.txt "--checkpoint link.safetensors is the data file train/label.npy" "a link: message"
mkdir pred && cp train/x.npy pred/x.npy && ln pred/x.npy pred/amount.npy
expect 1 "predict --out onto its data is refused" -- "$model" predict --data pred --load w.safetensors --out pred
has err.txt "--out pred/amount.npy is the data file pred/x.npy" "predict: message"
expect 1 "--log onto the weights read is refused" -- "$model" train --train train --init w.safetensors --log w.safetensors
expect 1 "two outputs in one file are refused" -- "$model" train --train train --log out.txt --plot out.txt
has err.txt "--log out.txt and --plot out.txt are the same file" "two outputs: message"
cmp -s train/label.npy nanx/label.npy && fail "the data is unchanged" || ok "the data is unchanged"
cp w.safetensors w2.safetensors
expect 0 "--save may replace the weights it started from" -- "$model" train --train train --init w2.safetensors --save w2.safetensors --quiet

# ---- the files a run opens: those given, DIR/<name>.npy, OUT/<task>.npy, and temporary files
# beside an output (FILE.<pid>.<k>.tmp); nothing else outside the system's directories ----
command -v strace >/dev/null || { fail "strace is not installed"; finish; exit 1; }
traced() { # traced DESCRIPTION ALLOWED-REGEX -- COMMAND...
  local what=$1 allowed=$2; shift 3
  # LeakSanitizer cannot run under ptrace: leaks are the other tests' business.
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -s 4096 -e trace=%file -o trace.txt "$@" \
    >/dev/null 2>err.txt || { fail "$what: exit $?"; cat err.txt; return; }
  # The quoted paths, except the dynamic loader's, the C library's and the sanitizers'.
  grep -v 'execve(' trace.txt | grep -o '"[^"]*"' | tr -d '"' | grep -v -E '^(/etc/|/lib|/usr/|/proc/|/sys/|/dev/|$)' \
    | sort -u >paths.txt
  local other
  other=$(grep -v -x -E "$allowed|\." paths.txt | grep -v -x -F "$model") # the working directory, itself
  [ -z "$other" ] && ok "$what: opens only what it was given" || fail "$what: also touched: $other"
}
traced "train" "(train|nanx)/(x|label|mask|y|f)\.npy|train|nanx|(t\.safetensors|c\.safetensors|l\.csv|p\.svg)(\.[0-9]+\.[0-9]+\.tmp)?|w\.safetensors" -- \
  "$model" train --train train --val nanx --init w.safetensors --save t.safetensors --checkpoint c.safetensors \
  --log l.csv --plot p.svg --quiet --on-nan skip
traced "eval" "train/(x|label|mask|y|f)\.npy|train|w\.safetensors" -- "$model" eval --data train --load w.safetensors
traced "predict" "train/x\.npy|train|w\.safetensors|po|po/(kind|seg|amount|flags)\.npy(\.[0-9]+\.[0-9]+\.tmp)?" -- \
  "$model" predict --data train --load w.safetensors --out po

finish
