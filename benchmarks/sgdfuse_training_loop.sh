#!/bin/bash
# Seconds per step of `samfuse train sgdfuse-stage1` and `samfuse train sgdfuse` (cpu profiles) through the
# training loop itself: --max-steps 40, wall time per step from log.jsonl (steps 10 -> 40), with the machine
# and its load average. Usage: benchmarks/sgdfuse_training_loop.sh IR_DIR VI_DIR SCRATCH_DIR
# (docs/sgdfuse.md, Training: IR_DIR/VI_DIR held the 5 MSRS-train pairs and 4 RoadScene pairs of `train`.)
set -e
IR=$1; VI=$2; OUT=$3
S=${SAMFUSE:-.venv/bin/samfuse}
rm -rf "$OUT/s1" "$OUT/s2"
echo "machine: $(nproc)-core $(lscpu | sed -n 's/^Model name: *//p'), no GPU"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
$S train sgdfuse-stage1 --profile cpu --ir "$IR" --vi "$VI" --out "$OUT/s1" --max-steps 40 --no-progress --checkpoint-minutes 60
echo "load between: $(cut -d' ' -f1-3 /proc/loadavg)"
$S train sgdfuse --profile cpu --set stage1="$OUT/s1/weights/sgdfuse_stage1.safetensors" --masks thermal \
    --ir "$IR" --vi "$VI" --out "$OUT/s2" --max-steps 40 --no-progress --checkpoint-minutes 60
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in s1 s2; do
    python3 - "$OUT/$run/log.jsonl" "$run" <<'PY'
import json, sys
r = [json.loads(x) for x in open(sys.argv[1]) if '"event"' not in x]
w = {x["step"]: x["wall_s"] for x in r}
windows = [round(w[s + 10] - w[s], 2) / 10 for s in (10, 20, 30)]
print(f"{sys.argv[2]}: {(w[40] - w[10]) / 30:.3f} s/step over steps 10-40; 10-step windows {windows}")
PY
done
