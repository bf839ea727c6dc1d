#!/usr/bin/env bash
# Variants of fer2013-gpu trained at the same time on one lent H100/H200, in one call of about 9 minutes:
# the recipe as is, +mixup, +CutMix, +40 px crops, crops+mixup with more weight decay, and that last
# one trained longest (benchmarks/recipe_search.py: calibration, epochs fitted to the time left, summary).
# Writes under $OUT (at most 6 files): machine.txt, search.log, summary.md, summary.json and
# runs.tgz (every run folder without its weights, and each process's log).
#
#   bash benchmarks/gpu_recipe_search.sh data/fer2013.zip        # device call: timeout_s 560
# Dry run on a CPU (tiny, synthetic faces, two variants; or the zip, with DRY_EXTRA's options instead):
#   DRY_RUN=1 bash benchmarks/gpu_recipe_search.sh
#   DRY_RUN=1 DRY_EXTRA="--arch simple_cnn --device cpu --input-size 24 --threads 1" \
#       bash benchmarks/gpu_recipe_search.sh data/fer2013.zip
set -u -o pipefail
export PYTHONUNBUFFERED=1
ZIP=${1:-data/fer2013.zip}
OUT=${OUT:-/tmp/gpu-recipe-search}
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-520}           # the whole script; give the device call about 40 s more (timeout_s 560)
VARIANTS=${VARIANTS:-baseline mixup cutmix crop40 crop40_mixup_wd long}
CALIBRATE_EPOCHS=${CALIBRATE_EPOCHS:-3}
LONG_SHARE=${LONG_SHARE:-0.7}        # the share of the training window the variants other than `long` get
EXTRA=${EXTRA:-}                     # more `train` options for every variant
if [ "${DRY_RUN:-0}" = 1 ]; then
    ZIP=${1:-synthetic}
    BUDGET_S=${BUDGET_S_DRY:-300}
    VARIANTS="baseline mixup"
    CALIBRATE_EPOCHS=1
    EXTRA=${DRY_EXTRA:-"--arch simple_cnn --device cpu --batch-size 64 --synthetic-size 800 --threads 1"}
fi
RUNS=$(mktemp -d /tmp/recipe-search.XXXX)
mkdir -p "$OUT"
T0=$(date +%s)
log() { echo "[$(($(date +%s) - T0)) s] $*"; }

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>/dev/null \
        || echo "no nvidia-smi"
    $PY -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
'timm', timm.__version__, 'cuda', torch.cuda.is_available())"
    echo "cores $(nproc); git $(git rev-parse --short HEAD 2>/dev/null)"
} 2>&1 | tee "$OUT/machine.txt"

if [ "$ZIP" != synthetic ]; then
    # Decode the zip into data/cache once, before several processes would each try (and race) to write it.
    log "decoding $ZIP into the cache"
    timeout 120 $PY -m fer_core data summary --data "$ZIP" 2>&1 | tail -n 3 | tee -a "$OUT/search.log"
fi

LEFT=$((BUDGET_S - ($(date +%s) - T0) - 10))  # 10 s for the archive at the end
log "variants ($VARIANTS) in the $LEFT s left"
# shellcheck disable=SC2086
timeout $((LEFT + 20)) $PY benchmarks/recipe_search.py --zip "$ZIP" --variants $VARIANTS --budget-s "$LEFT" \
    --calibrate-epochs "$CALIBRATE_EPOCHS" --long-share "$LONG_SHARE" --out "$OUT" --runs "$RUNS" -- $EXTRA 2>&1 | tee -a "$OUT/search.log"

tar czf "$OUT/runs.tgz" --exclude=best.pt -C "$RUNS" . 2>/dev/null
log "done; files in $OUT:"
ls -l "$OUT"
