#!/usr/bin/env bash
# Reproduces docs/RESULTS.md's encoder-enhancement table: the base tiny CLIP vs SaCo, CLIPin and xCLIP
# continue-pretraining, 3 seeds. Seed s trains with trainer.seed=s on world training seed 1+s and
# evaluates on a held-out world export of seed 100+s (test split). Seed 0's runs are the zoo's
# tiny-saco / tiny-clipin / tiny-xclip (published into zoo/ with fp16 weights).
#   bash zoo/evidence_encoders.sh            (about 45 min on 2 CPU cores)
set -euo pipefail
OUT=${OUT:-runs/evidence/encoders}
N=${N:-540}
SEEDS=${SEEDS:-"0 1 2"}
OBJECTIVES=${OBJECTIVES:-"saco clipin xclip"}
mkdir -p "$OUT"
runs=()
for s in $SEEDS; do
  world="$OUT/world-$s"
  [ -f "$world/world.json" ] || openeyes world generate --out "$world" --seed $((100 + s)) --n "$N" --size 64 \
      --only mmvp_vlm,classification,retrieval
  openeyes eval encoder --encoder zoo:tiny-clip --bench all --data "$world" --out "$OUT/eval/base-$s" --seed "$s"
  runs+=("base=$OUT/eval/base-$s")
  for obj in $OBJECTIVES; do
    model="$OUT/models/$obj-$s"
    [ -f "$model/openeyes.json" ] || openeyes train encoder --config "zoo/tiny-$obj/train.yaml" trainer.seed="$s" \
        data.world_seed=$((1 + s)) out="$model" trainer.out_dir="$OUT/train/$obj-$s"
    if [ "$s" = 0 ]; then openeyes zoo publish "$model" "tiny-$obj"; fi
    openeyes eval encoder --encoder "$model" --bench all --data "$world" --out "$OUT/eval/$obj-$s" --seed "$s"
    runs+=("$obj=$OUT/eval/$obj-$s")
  done
done
openeyes eval compare "${runs[@]}" --out "$OUT/table"
cat "$OUT/table/comparison.md"
