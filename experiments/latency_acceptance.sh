#!/usr/bin/env bash
# Issue 3 acceptance on one device: profile every space CPU-sized, train the predictor, evaluate it
# per space on held-out networks (>= 100 each at the defaults), with the noise floor next to it.
#
#   NAS_HOME=runs/latency-home bash experiments/latency_acceptance.sh [DEVICE] [BLOCKS] [NETWORKS]
#
# Needs a quiet machine (the profiler pins one core and waits for the other to idle): about
# 55 minutes on `cpu` at the defaults on a 2-core host. Re-running resumes the profiling. Keep the
# rows for the next machine with `nas profile export --device cpu --out "$SEED_ROWS"`.
# Only import them on the machine that measured them (SEED_ROWS=none otherwise): `nas profile`
# warns when this host's calibration block runs >15% faster than the stored quiet speed.
# HOST_WAIT=S: wait up to S s per batch for the host's quiet speed (`nas profile --host-wait`).
set -euo pipefail
DEVICE=${1:-cpu}
BLOCKS=${2:-1000}
NETWORKS=${3:-260}
HW=128x256
NAS=${NAS:-.venv/bin/nas}
HOST_WAIT=${HOST_WAIT:-0}
OUT=${OUT:-experiments/results/latency-$DEVICE}
mkdir -p "$OUT"
# Measurements committed by an earlier campaign (experiments/results/latency-store/DEVICE.csv.gz):
# imported first, so a fresh machine resumes the campaign instead of measuring it all again.
SEED_ROWS=${SEED_ROWS:-experiments/results/latency-store/$DEVICE.csv.gz}
if [[ -f "$SEED_ROWS" ]]; then
  "$NAS" profile import "$SEED_ROWS"
fi
# the CPU presets of the search drivers (rtseg demo, ffnet optuna `cpu`, routing `cpu`)
declare -A CFG=(
  [rtseg]='{"preset": "paper", "width_mult": 0.25}'
  [ffnet]='{"width_mult": 0.25, "max_depth": 3}'
  [routing]='{"num_layers": 8, "width_mult": 0.25, "small_gate": true}'
)
seed=0
for space in rtseg ffnet routing; do
  seed=$((seed + 1))
  "$NAS" profile --device "$DEVICE" --space "$space" --cfg "${CFG[$space]}" --input-size "$HW" \
    --n "$BLOCKS" --networks "$NETWORKS" --seed "$seed" --host-wait "$HOST_WAIT" --no-progress
done
# every whole network timed twice at different times (the split takes an item's fastest row);
# REPEATS=1 skips this
REPEATS=${REPEATS:-2}
if (( REPEATS > 1 )); then
  "$NAS" profile --device "$DEVICE" --repeats "$REPEATS" --kind network --host-wait "$HOST_WAIT" \
    --no-progress
fi
# 45% of the archs held out: >= 100 held-out networks per space at 260 networks each
"$NAS" predictor train --device "$DEVICE" --test-frac 0.45 --out "$OUT/all"
for space in rtseg ffnet routing; do
  "$NAS" predictor eval --device "$DEVICE" --space "$space" --out "$OUT/$space"
done
