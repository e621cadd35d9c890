#!/usr/bin/env bash
# Builds zoo:tiny-clip, the embedded base CLIP, in two stages on the synthetic world (seed 0):
#   1. train.yaml        CLIP + image-level labels, 1,500 steps x 128 from scratch (colour, not shape)
#   2. train_dense.yaml  + per-patch category/colour heads on the last layer, 1,800 steps x 128,
#                        two DDP processes (gloo on CPU)
# then the shape gate (linear probe over a held-out classification export) and publication
# into zoo/tiny-clip with fp16 weights. About 75 min on 2 CPU cores.
#   bash zoo/tiny-clip/build.sh
set -euo pipefail
RUNS=${RUNS:-runs/zoo}
openeyes train encoder --config zoo/tiny-clip/train.yaml out="$RUNS/tiny-clip-stage1" trainer.out_dir="$RUNS/tiny-clip"
openeyes-launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
    -m openeyes.training.cli encoder --config zoo/tiny-clip/train_dense.yaml \
    init.encoder="$RUNS/tiny-clip-stage1" out="$RUNS/tiny-clip-dense" trainer.out_dir="$RUNS/tiny-clip-dense.run"
gate="$RUNS/gate-world"
[ -f "$gate/world.json" ] || openeyes world generate --out "$gate" --seed 200 --n 1760 --size 64 --only classification
openeyes eval encoder --encoder "$RUNS/tiny-clip-dense" --bench linear_probe --data "$gate/classification" \
    --probe-layer -1 --out "$RUNS/tiny-clip-dense.gate"
openeyes zoo publish "$RUNS/tiny-clip-dense" tiny-clip
