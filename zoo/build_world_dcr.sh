#!/usr/bin/env bash
# DCR on zoo:world-prior as a resumable chain (issue 19). Re-run the same command to continue.
#   1. stage 1 (h_omega, encoder frozen) in legs STAGE1_LEGS until the last logged L_dcr is below
#      BIND * log(K + 2) (default 0.5; K = dcr.num_negatives), so the prior's predictions depend on
#      the CLIP feature; each leg's loss goes to $RESULTS/stage1.jsonl.
#   2. stage 2 for MODES (lora: r=16 adapters, the reference; full: the whole vision tower) and SEEDS,
#      in legs STAGE2_LEGS; after each leg the encoder is evaluated on the held-out world exports of
#      seeds 100, 101, 102 (openeyes eval encoder --bench all), next to the base.
# Seed s trains stage 2 with trainer.seed=s, dcr.seed=s on world seed 1+s (as zoo/evidence_dcr.sh).
#   nice -n 10 bash zoo/build_world_dcr.sh
#   PRIOR=runs/world-prior-latent64/leg-3000 STAGE1_LEGS="200 500" bash zoo/build_world_dcr.sh
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
PRIOR=${PRIOR:-zoo:world-prior}
OUT=${OUT:-runs/world-dcr}
RESULTS=${RESULTS:-zoo/results/dcr/world-dcr}
STAGE1_LEGS=${STAGE1_LEGS:-"500 1000 2000 4000"}
STAGE2_LEGS=${STAGE2_LEGS:-"500 1000 2000 4000"}
MODES=${MODES:-"lora full"}
SEEDS=${SEEDS:-"0 1 2"}
WORLDS=${WORLDS:-"100 101 102"}
BIND=${BIND:-0.5}
N=${N:-540}
EVAL=${EVAL:-1}
CONFIG=zoo/world-dcr/train.yaml
COMMON=(--config "$CONFIG" dcr.prior="$PRIOR" projector_out="$OUT/projector")
mkdir -p "$OUT" "$RESULTS"

last_dcr() {  # the last logged L_dcr of a trainer run folder
  python -c "import json, sys; print(json.load(open(sys.argv[1]))['last']['dcr'])" "$1/summary.json"
}
bound() {  # BIND * log(K + 2) for the config's K
  python - "$CONFIG" "$BIND" <<'PY'
import math, sys, yaml
k = yaml.safe_load(open(sys.argv[1]))["dcr"]["num_negatives"]
print(float(sys.argv[2]) * math.log(k + 2))
PY
}
world() {  # the held-out world export of seed $1
  local folder="$OUT/world-$1"
  [ -f "$folder/world.json" ] || openeyes world generate --out "$folder" --seed "$1" --n "$N" --size 64 \
      --only mmvp_vlm,classification,retrieval
  echo "$folder"
}
evaluate() {  # evaluate MODEL NAME: every held-out world
  [ "$EVAL" = 1 ] || return 0
  for w in $WORLDS; do
    [ -f "$RESULTS/eval/$2-w$w/summary.json" ] || openeyes eval encoder --encoder "$1" --bench all \
        --data "$(world "$w")" --out "$RESULTS/eval/$2-w$w" --seed "$w"
  done
}

evaluate zoo:tiny-clip base
target=$(bound)
for steps in $STAGE1_LEGS; do  # stage 1 until it binds
  if [ ! -f "$OUT/stage1-leg-$steps.done" ]; then
    openeyes train dcr --stage 1 "${COMMON[@]}" run_dir="$OUT/s1" stage1.trainer.steps="$steps"
    echo "{\"steps\": $steps, \"dcr\": $(last_dcr "$OUT/s1/stage1"), \"bound\": $target}" >> "$RESULTS/stage1.jsonl"
    touch "$OUT/stage1-leg-$steps.done"
  fi
  if python -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" \
      "$(last_dcr "$OUT/s1/stage1")" "$target"; then
    break
  fi
done

for mode in $MODES; do
  lora=true; [ "$mode" = full ] && lora=false
  for seed in $SEEDS; do
    for steps in $STAGE2_LEGS; do
      model="$OUT/models/$mode-$seed/leg-$steps"
      [ -f "$model/openeyes.json" ] || openeyes train dcr --stage 2 "${COMMON[@]}" run_dir="$OUT/s2-$mode-$seed" \
          out="$model" lora.enabled=$lora stage2.trainer.steps="$steps" stage2.trainer.seed="$seed" dcr.seed="$seed" \
          data.world_seed=$((1 + seed))
      evaluate "$model" "$mode-$seed-leg$steps"
    done
  done
done
