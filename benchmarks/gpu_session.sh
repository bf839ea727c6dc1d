#!/usr/bin/env bash
# The whole GPU measurement as one prepared script, for one call on a lent H100/H200 (about 9 minutes):
#   1. epoch seconds for simple_cnn, vgg_fer, resnet18 and fast_cnn_wide, and a profile of a few steps;
#   2. fer2013-gpu with its epochs fitted to 60 s (time to 70% val);
#   3. a smoke run of the distributed path (torchrun, one rank, NCCL on CUDA);
#   4. a candidate for the bundled model (fer2013-cpu's small net, trained longer);
#   5. fer2013-gpu with its epochs fitted to the time left (the time-to-accuracy table).
# Every phase writes under $OUT and a failing phase does not stop the next.
#
#   bash benchmarks/gpu_session.sh data/fer2013.zip
# Dry run on a CPU (tiny): ARCHS=simple_cnn PROFILE_ARCH=simple_cnn BUDGET_S=400 \
#   EXTRA="--arch simple_cnn --device cpu" bash benchmarks/gpu_session.sh data/fer2013.zip
set -u -o pipefail
export PYTHONUNBUFFERED=1
ZIP=${1:-data/fer2013.zip}
OUT=${OUT:-/tmp/gpu-session}
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-550}           # the whole script; the device call's limit is a little above
ARCHS=${ARCHS:-simple_cnn vgg_fer resnet18 fast_cnn_wide}
PROFILE_ARCH=${PROFILE_ARCH:-fast_cnn_wide}
EXTRA=${EXTRA:-}                     # more `train` options for every run (dry runs)
MARKS="0.60 0.65 0.70 0.72 0.74"
RUNS=$(mktemp -d /tmp/gpu-runs.XXXX)
mkdir -p "$OUT"
T0=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
log() { echo "[$(($(date +%s) - T0)) s] $*"; }
quiet() { grep --line-buffered -v -e '^USDT:' -e 'DeviceProperties.cpp'; }  # the profiler's own chatter

# Epochs of the recipe that fit SECONDS of training, from the measured epoch time (+10% and 0.3 s
# for val, checkpoint and metrics per epoch); FALLBACK when phase 1 gave no figure.
fit_epochs() {
    $PY - "$OUT/epochs.json" "$1" "$2" "$PROFILE_ARCH" <<'EOF'
import json, sys
path, seconds, fallback, arch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    rows = {r["arch"]: r for r in json.load(open(path))}
    per_epoch = rows[arch]["epoch_s"] * 1.1 + 0.3
    print(max(1, min(400, int(seconds / per_epoch))))
except Exception:
    print(fallback)
EOF
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $PY -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
'timm', timm.__version__, 'cuda', torch.cuda.is_available())"
    nproc
} 2>&1 | tee "$OUT/machine.txt"

log "1. epoch seconds ($ARCHS) and a profile of $PROFILE_ARCH"
timeout 200 $PY benchmarks/bench_gpu_epoch.py --zip "$ZIP" --arch $ARCHS --profile-arch "$PROFILE_ARCH" \
    --json "$OUT/epochs.json" 2>&1 | quiet | tee "$OUT/epochs.log"

N60=$(fit_epochs 48 15)  # 60 s minus start-up, data from the cache and the first epoch's cuDNN tuning
log "2. fer2013-gpu in 60 s: $N60 epochs"
timeout 150 $PY benchmarks/bench_time_to_accuracy.py --zip "$ZIP" --recipe fer2013-gpu --seeds 0 --marks $MARKS \
    --out "$RUNS/short" -- --epochs "$N60" --time-limit 1.5 $EXTRA 2>&1 | tee "$OUT/short.log"

log "3. distributed smoke run: torchrun, one rank"
timeout 120 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m fer_core train --data "$ZIP" \
    --recipe fer2013-gpu --epochs 1 --out "$RUNS/ddp" $EXTRA 2>&1 | tail -n 8 | tee -a "$OUT/runs.log"

log "4. the bundled model's candidate: fer2013-cpu's fast_cnn at 32 px, 40 epochs instead of 11"
timeout 150 $PY -m fer_core train --data "$ZIP" --recipe fer2013-cpu --epochs 40 --time-limit 2 \
    --out "$RUNS/builtin" $EXTRA 2>&1 | tail -n 3 | tee -a "$OUT/runs.log"
tar czf "$OUT/builtin_run.tgz" -C "$RUNS/builtin" . 2>/dev/null

LEFT=$(left)
NMAIN=$(fit_epochs $((LEFT - 45)) 100)  # start-up and the final test evaluation
log "5. fer2013-gpu, $NMAIN epochs for the $LEFT s left"
timeout $((LEFT > 30 ? LEFT - 5 : 25)) $PY benchmarks/bench_time_to_accuracy.py --zip "$ZIP" --recipe fer2013-gpu \
    --seeds 0 --marks $MARKS --out "$RUNS/main" -- --epochs "$NMAIN" $EXTRA 2>&1 | tee "$OUT/main.log"

tar czf "$OUT/runs.tgz" --exclude=best.pt -C "$RUNS" . 2>/dev/null
log "done. Summary:"
grep -E "^(device|arch|[a-z_0-9]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9]+$)" "$OUT/epochs.log"
grep -E "^(== profile|scope|augment|forward|backward|optimizer|ema) " "$OUT/epochs.log"
for f in short main; do grep -E "^(== seed|val accuracy first|best epoch|TEST|per-class|whole command)" "$OUT/$f.log"; done
cat "$OUT/runs.log"
