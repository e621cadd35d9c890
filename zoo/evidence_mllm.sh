#!/usr/bin/env bash
# Reproduces docs/RESULTS.md's MLLM table: the tiny LLaVAs on held-out world exports of MMVP, POPE (3 splits),
# CV-Bench and NaturalBench, each benchmark under its default reference protocol (MMVP lmms-eval,
# POPE pope = LLaVA eval_pope, CV-Bench cambrian, NaturalBench reference). Models: zoo/tiny-llava
# (stage 1 + 2), the control runs/llava/tiny-llava-base (tiny-llava's LM with the base encoder and its
# projector retrained like the swaps) and the swaps tiny-llava-{saco,clipin,xclip,dcr}.
# Built by zoo/tiny-llava/build.sh. Evaluation world seeds: 100 (and 101, 102 with SEEDS="0 1 2", docs/RESULTS.md's table).
#   bash zoo/evidence_mllm.sh
set -euo pipefail
OUT=${OUT:-runs/evidence/mllm}
N=${N:-135}
SEEDS=${SEEDS:-"0"}
MODELS=${MODELS:-"tiny-llava base saco clipin xclip dcr"}
mkdir -p "$OUT"
runs=()
for s in $SEEDS; do
  world="$OUT/world-$s"
  [ -f "$world/world.json" ] || openeyes world generate --out "$world" --seed $((100 + s)) --n "$N" --size 64 \
      --only mmvp,pope,cv_bench,naturalbench
  for m in $MODELS; do
    case "$m" in
      tiny-llava) model=zoo:tiny-llava; label=tiny-llava ;;
      base) model=runs/llava/tiny-llava-base; label=swap-base ;;
      *) model="zoo:tiny-llava-$m"; label="swap-$m" ;;
    esac
    openeyes eval mllm --model "$model" --bench all --data "$world" --out "$OUT/eval/$label-$s" --batch-size 32
    runs+=("$label=$OUT/eval/$label-$s")
  done
done
openeyes eval compare "${runs[@]}" --out "$OUT/table"
cat "$OUT/table/comparison.md"
