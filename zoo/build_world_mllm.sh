#!/usr/bin/env bash
# The world-DCR encoders in tiny-llava (issue 19.4): each encoder replaces tiny-llava's vision tower (LM
# unchanged; tiny-llava's projector kept as the start and retrained as stage 1 on the format mix, exactly as
# zoo/tiny-llava/build.sh's swaps), then MMVP, POPE, CV-Bench and NaturalBench on the held-out worlds 100,
# 101, 102 (per world pattern and CV-Bench task with openeyes eval compare --by-pattern). The control is the
# base encoder through the same flow. Projector seed s goes with the DCR encoder of training seed s.
# Resumable: a finished swap or evaluation is skipped (a swap evaluated on every world needs no model).
#   nice -n 10 bash zoo/build_world_mllm.sh                     (after zoo/build_world_dcr.sh)
#   ENCODERS="base lora full" SEEDS="0" bash zoo/build_world_mllm.sh
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
OUT=${OUT:-runs/world-mllm}
DCR=${DCR:-runs/world-dcr}  # the DCR chain's run folder: models/<mode>-<seed>/leg-<steps>
RESULTS=${RESULTS:-zoo/results/dcr/world-mllm}
ENCODERS=${ENCODERS:-"base lora full"}
SEEDS=${SEEDS:-"0 1 2"}
WORLDS=${WORLDS:-"100 101 102"}
SWAP_STEPS=${SWAP_STEPS:-500}
N=${N:-135}
TRAIN_WORLD=${TRAIN_WORLD:-runs/llava/world-train}  # zoo/tiny-llava/build.sh's training world (seed 10), made here when absent
TRAIN_N=${TRAIN_N:-12000}  # items per benchmark of that training world when it is made here
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"  # more projector-training overrides, space-separated (e.g. "trainer.batch_size=32")
mkdir -p "$OUT" "$RESULTS"
source zoo/chain.sh

training_mix() {  # the swaps' format mix, as zoo/tiny-llava/build.sh makes it (made once, when a swap first trains)
  [ -f "$TRAIN_WORLD/llava_mix_leg3.json" ] && return 0
  [ -f "$TRAIN_WORLD/world.json" ] || openeyes world generate --out "$TRAIN_WORLD" --seed 10 --n "$TRAIN_N" --size 64 \
      --only llava_pretrain,llava_instruct,mmvp,pope,cv_bench,naturalbench
  openeyes integrate world-mix --world "$TRAIN_WORLD" --out "$TRAIN_WORLD/llava_mix_leg3.json" --seed 3 \
      --count pope=12000 --count mmvp=23760 --count cv_bench=6000 --count naturalbench=6000 --conversations 1000
}
encoder_of() {  # the encoder of label $1 and seed $2: the base, or the DCR chain's newest leg of that mode and seed
  if [ "$1" = base ]; then echo zoo:tiny-clip; return; fi
  local newest
  newest=$(newest_leg "$DCR/models/$1-$2")
  [ -n "$newest" ] || { echo "error: no DCR encoder in $DCR/models/$1-$2 (run zoo/build_world_dcr.sh first)" >&2; exit 2; }
  echo "$newest"
}

runs=()
for label in $ENCODERS; do
  for seed in $SEEDS; do
    if evaluated_on_all_worlds "$RESULTS/eval/$label-$seed"; then  # done on another machine: nothing to rebuild
      for w in $WORLDS; do runs+=("$label=$RESULTS/eval/$label-$seed-w$w"); done
      continue
    fi
    encoder=$(encoder_of "$label" "$seed")
    mllm="$OUT/models/$label-$seed"
    if [ ! -f "$mllm/openeyes.json" ]; then
      training_mix
      [ -d "$OUT/swap-$label-$seed" ] || openeyes integrate swap --mllm "$(openeyes zoo path tiny-llava)" --encoder "$encoder" \
          --out "$OUT/swap-$label-$seed"
      openeyes integrate train --stage 1 --mllm "$OUT/swap-$label-$seed" --data "$TRAIN_WORLD/llava_mix_leg3.json" --out "$mllm" \
          --config zoo/tiny-llava/stage1.yaml trainer.steps="$SWAP_STEPS" trainer.batch_size=64 trainer.seed="$seed" \
          trainer.resume=auto trainer.out_dir="$OUT/train/$label-$seed" \
          ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
      echo "$encoder" > "$mllm/encoder.txt"  # which encoder this swap holds
    fi
    for w in $WORLDS; do
      world=$(world_export "$OUT/world-$w" "$w" "$N" mmvp,pope,cv_bench,naturalbench)
      dest="$RESULTS/eval/$label-$seed-w$w"
      [ -f "$dest/summary.json" ] || openeyes eval mllm --model "$mllm" --bench all --data "$world" --out "$dest" --batch-size 32
      find "$dest" -name '*.png' -delete
      runs+=("$label=$dest")
    done
  done
done
openeyes eval compare "${runs[@]}" --out "$RESULTS/table" --by-pattern --paired-to base > /dev/null
cat "$RESULTS/table/comparison.md" "$RESULTS/table/patterns.md" "$RESULTS/table/paired.md"
