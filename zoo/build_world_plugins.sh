#!/usr/bin/env bash
# The plug-ins (SaCo, CLIPin, xCLIP) on the same footing as DCR on zoo:world-prior (issue 19.5): each
# continue-pretrains zoo:tiny-clip with its zoo recipe (zoo/tiny-<objective>/train.yaml) for STEPS steps of
# 128 image-caption pairs (default 200: 25,600 pairs, more images than DCR stage 2 sees in 2,000 steps of 12),
# seed s with trainer.seed=s on world seed 1+s (as zoo/build_world_dcr.sh), and is evaluated on the
# same held-out worlds 100, 101, 102 (MMVP-VLM per pattern, attribute probe, zero-shot, retrieval,
# clustering). Resumable: a finished run or evaluation is skipped (a run evaluated on every world needs no
# model). The table goes to $RESULTS/table.
#   nice -n 10 bash zoo/build_world_plugins.sh
#   OBJECTIVES="saco" SEEDS="0" STEPS=400 bash zoo/build_world_plugins.sh
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
OUT=${OUT:-runs/world-plugins}
RESULTS=${RESULTS:-zoo/results/plugins/world}
BASE_EVAL=${BASE_EVAL:-zoo/results/dcr/world-dcr/eval}  # base-w<world>: the DCR chain's base evaluation, shared
OBJECTIVES=${OBJECTIVES:-"saco clipin xclip"}
SEEDS=${SEEDS:-"0 1 2"}
WORLDS=${WORLDS:-"100 101 102"}
STEPS=${STEPS:-200}
N=${N:-540}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"  # more training overrides, space-separated (e.g. "trainer.batch_size=64")
mkdir -p "$OUT" "$RESULTS"

source zoo/chain.sh
WORLD_ROOT=${WORLD_ROOT:-runs/world-dcr/world}  # held-out exports WORLD_ROOT-<seed>, shared with the DCR chain

KEEP_FILES=1 evaluate_encoder_worlds zoo:tiny-clip "$BASE_EVAL/base" "$WORLD_ROOT"
runs=()
for w in $WORLDS; do runs+=("base=$BASE_EVAL/base-w$w"); done
for objective in $OBJECTIVES; do
  for seed in $SEEDS; do
    model="$OUT/models/$objective-$seed-$STEPS"
    if ! evaluated_on_all_worlds "$RESULTS/eval/$objective-$seed-$STEPS"; then
      [ -f "$model/openeyes.json" ] || openeyes train encoder --config "zoo/tiny-$objective/train.yaml" \
          trainer.steps="$STEPS" trainer.seed="$seed" data.world_seed=$((1 + seed)) \
          trainer.resume=auto out="$model" trainer.out_dir="$OUT/train/$objective-$seed-$STEPS" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
      evaluate_encoder_worlds "$model" "$RESULTS/eval/$objective-$seed-$STEPS" "$WORLD_ROOT"
    fi
    for w in $WORLDS; do runs+=("$objective=$RESULTS/eval/$objective-$seed-$STEPS-w$w"); done
  done
done
openeyes eval compare "${runs[@]}" --out "$RESULTS/table-$STEPS" --by-pattern --paired-to base > /dev/null
cat "$RESULTS/table-$STEPS/comparison.md" "$RESULTS/table-$STEPS/patterns.md" "$RESULTS/table-$STEPS/paired.md"
