#!/usr/bin/env bash
# Builds the embedded tiny MLLMs from scratch on the synthetic world (world seed 10):
#   zoo/tiny-lm          tokenizer + Llama trained on the world's text       (openeyes integrate tiny-lm)
#   zoo/tiny-llava       tiny-clip + tiny-lm, LLaVA stage 1 then stage 2     (integrate llava / train)
#   zoo/tiny-llava-ENC   the swap flow for each enhanced encoder: tiny-llava's LM (unchanged) with
#                        zoo:tiny-ENC and a fresh projector trained as stage 1 on the instruction mix;
#                        runs/llava/tiny-llava-base is the same flow with the base encoder (the control).
# Held-out evaluation: zoo/evidence_mllm.sh. About 75 min on 2 shared CPU cores.
#   bash zoo/tiny-llava/build.sh             SWAPS="base saco clipin xclip dcr" by default
set -euo pipefail
OUT=${OUT:-runs/llava}
W="$OUT/world-train"
SWAPS=${SWAPS:-"base saco clipin xclip dcr"}
SWAP_STEPS=${SWAP_STEPS:-400}
mkdir -p "$OUT"

[ -f "$W/world.json" ] || openeyes world generate --out "$W" --seed 10 --n 12000 --size 64 \
    --only llava_pretrain,llava_instruct,mmvp,pope,cv_bench,naturalbench
[ -f "$OUT/world-text/world.json" ] || openeyes world generate --out "$OUT/world-text" --seed 10 --n 60000 \
    --only scene_text
[ -f "$W/llava_mix.json" ] || openeyes integrate world-mix --world "$W" --out "$W/llava_mix.json" --per-benchmark 8000

openeyes integrate tiny-lm --config zoo/tiny-lm/train.yaml out="$OUT/tiny-lm" trainer.out_dir="$OUT/tiny-lm.run"
openeyes zoo publish "$OUT/tiny-lm" tiny-lm

# the tower's last layer: that is where tiny-clip's per-patch shape supervision sits (2 layers only)
openeyes integrate llava --encoder zoo:tiny-clip --lm "$(openeyes zoo path tiny-lm)" --vision-feature-layer -1 \
    --out "$OUT/tiny-llava-s0"
openeyes integrate train --stage 1 --mllm "$OUT/tiny-llava-s0" --data "$W" --out "$OUT/tiny-llava-s1" \
    --config zoo/tiny-llava/stage1.yaml trainer.out_dir="$OUT/tiny-llava-s1.run"
openeyes integrate train --stage 2 --mllm "$OUT/tiny-llava-s1" --data "$W/llava_mix.json" --out "$OUT/tiny-llava" \
    --config zoo/tiny-llava/stage2.yaml trainer.out_dir="$OUT/tiny-llava.run"
openeyes zoo publish "$OUT/tiny-llava" tiny-llava

for enc in $SWAPS; do
  if [ "$enc" = base ]; then encoder=zoo:tiny-clip; else encoder="zoo:tiny-$enc"; fi
  openeyes integrate swap --mllm "$(openeyes zoo path tiny-llava)" --encoder "$encoder" --reinit-projector --out "$OUT/swap-$enc"
  openeyes integrate train --stage 1 --mllm "$OUT/swap-$enc" --data "$W/llava_mix.json" --out "$OUT/tiny-llava-$enc" \
      --config zoo/tiny-llava/stage1.yaml trainer.steps="$SWAP_STEPS" trainer.out_dir="$OUT/tiny-llava-$enc.run"
  [ "$enc" = base ] || openeyes zoo publish "$OUT/tiny-llava-$enc" "tiny-llava-$enc"  # the control stays in runs/
done
