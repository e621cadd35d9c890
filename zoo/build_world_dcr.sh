#!/usr/bin/env bash
# DCR on zoo:world-prior as a resumable chain (issue 19). Re-run the same command to continue.
#   1. stage 1 (h_omega, encoder frozen) in legs STAGE1_LEGS until it binds: the mean `binding` of
#      the leg's last logged steps (L_dcr placed between its chance value and perfect separation,
#      training/recipes/dcr_report.py) reaches BIND (default 0.5), or it plateaus (it grew less
#      than PLATEAU, default 0.02, over the leg). Each leg's report goes to $RESULTS/stage1.jsonl.
#   2. stage 2 for MODES (lora: r=16 adapters, the reference; full: the whole vision tower) and SEEDS,
#      in legs STAGE2_LEGS; after each leg the encoder is evaluated on the held-out world exports of
#      seeds 100, 101, 102 (openeyes eval encoder --bench all), next to the base.
# Seed s trains stage 2 with trainer.seed=s, dcr.seed=s on world seed 1+s (as zoo/evidence_dcr.sh).
#   nice -n 10 bash zoo/build_world_dcr.sh
#   PRIOR=runs/world-prior-latent64/leg-3000 STAGE1_LEGS="200 500" bash zoo/build_world_dcr.sh
#   EXTRA="dcr.tau=0.02" OUT=runs/world-dcr-tau0.02 RESULTS=... bash zoo/build_world_dcr.sh
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
PLATEAU=${PLATEAU:-0.02}
N=${N:-540}
EVAL=${EVAL:-1}
CONFIG=zoo/world-dcr/train.yaml
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"  # more overrides for both stages, space-separated (e.g. "dcr.tau=0.02")
COMMON=(--config "$CONFIG" dcr.prior="$PRIOR" projector_out="$OUT/projector" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"})
mkdir -p "$OUT" "$RESULTS"

negatives() {  # K of the config, after any dcr.num_negatives=... in EXTRA
  python - "$CONFIG" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} <<'PY'
import sys, yaml
k = yaml.safe_load(open(sys.argv[1]))["dcr"]["num_negatives"]
for arg in sys.argv[2:]:
    if arg.startswith("dcr.num_negatives="):
        k = int(arg.split("=", 1)[1])
print(k)
PY
}
world() {  # the held-out world export of seed $1
  local folder="$OUT/world-$1"
  [ -f "$folder/world.json" ] || openeyes world generate --out "$folder" --seed "$1" --n "$N" --size 64 \
      --only mmvp_vlm,classification,retrieval,attribute_probe >&2  # stdout carries only the folder
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
K=$(negatives)
previous=""
for steps in $STAGE1_LEGS; do  # stage 1 until it binds or plateaus
  if [ ! -f "$OUT/stage1-leg-$steps.done" ]; then
    openeyes train dcr --stage 1 "${COMMON[@]}" run_dir="$OUT/s1" stage1.trainer.steps="$steps"
    python -m openeyes.training.recipes.dcr_report "$OUT/s1/stage1" --negatives "$K" >> "$RESULTS/stage1.jsonl"
    touch "$OUT/stage1-leg-$steps.done"
  fi
  binding=$(python -m openeyes.training.recipes.dcr_report "$OUT/s1/stage1" --negatives "$K" |
            python -c "import json, sys; print(json.load(sys.stdin).get('binding', 0.0))")
  if python -c "import sys; b, bind, plateau, prev = sys.argv[1:5]; b = float(b)
sys.exit(0 if b >= float(bind) or (prev and b - float(prev) < float(plateau)) else 1)" \
      "$binding" "$BIND" "$PLATEAU" "$previous"; then
    break
  fi
  previous=$binding
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
