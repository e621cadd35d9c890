#!/usr/bin/env bash
# Builds the embedded tiny MLLMs from scratch on the synthetic world (world seed 10):
#   zoo/tiny-lm          tokenizer + Llama trained on the world's text       (openeyes integrate tiny-lm)
#   zoo/tiny-llava       tiny-clip + tiny-lm, LLaVA stage 1 (captions) then stage 2 (whole LM) in three legs:
#                        the grounding-weighted mix, presence questions alone, then the format mix (every
#                        benchmark's format, MMVP-heavy) (integrate llava / train)
#   zoo/tiny-llava-ENC   the swap flow for each enhanced encoder: tiny-llava's LM (unchanged) with
#                        zoo:tiny-ENC; tiny-llava's projector (same width: kept as the start) retrained as
#                        stage 1 on the format mix; runs/llava/tiny-llava-base is the same flow with the
#                        base encoder (the control).
# Held-out evaluation: zoo/evidence_mllm.sh. About 2 h on 2 CPU cores (stage 1 4 min, stage 2 16 + 11 + 19 min,
# about 6 min per swap).
#   bash zoo/tiny-llava/build.sh             SWAPS="base saco clipin xclip dcr" by default
set -euo pipefail
OUT=${OUT:-runs/llava}
W="$OUT/world-train"
SWAPS=${SWAPS:-"base saco clipin xclip dcr"}
SWAP_STEPS=${SWAP_STEPS:-500}
mkdir -p "$OUT"

[ -f "$W/world.json" ] || openeyes world generate --out "$W" --seed 10 --n 12000 --size 64 \
    --only llava_pretrain,llava_instruct,mmvp,pope,cv_bench,naturalbench
# the even mix: the LM's text corpus; the grounding-weighted mix: stage 2 and the swaps' projectors
[ -f "$W/llava_mix.json" ] || openeyes integrate world-mix --world "$W" --out "$W/llava_mix.json" --per-benchmark 8000
[ -f "$W/llava_mix_grounding.json" ] || openeyes integrate world-mix --world "$W" --out "$W/llava_mix_grounding.json" \
    --count pope=48000 --per-benchmark 5000 --conversations 1500 --captions 1500
[ -f "$W/llava_mix_leg3.json" ] || openeyes integrate world-mix --world "$W" --out "$W/llava_mix_leg3.json" --seed 3 \
    --count pope=12000 --count mmvp=23760 --count cv_bench=6000 --count naturalbench=6000 --conversations 1000
[ -f "$W/llava_pope.json" ] || openeyes integrate world-mix --world "$W" --out "$W/llava_pope.json" --seed 1 \
    --count pope=48000 --count mmvp=0 --count cv_bench=0 --count naturalbench=0 --conversations 0

openeyes integrate tiny-lm --config zoo/tiny-lm/train.yaml out="$OUT/tiny-lm" trainer.out_dir="$OUT/tiny-lm.run"
openeyes zoo publish "$OUT/tiny-lm" tiny-lm

# the tower's last layer: that is where tiny-clip's per-patch shape supervision sits (2 layers only)
openeyes integrate llava --encoder zoo:tiny-clip --lm "$(openeyes zoo path tiny-lm)" --vision-feature-layer -1 \
    --out "$OUT/tiny-llava-s0"
openeyes integrate train --stage 1 --mllm "$OUT/tiny-llava-s0" --data "$W" --out "$OUT/tiny-llava-s1" \
    --config zoo/tiny-llava/stage1.yaml trainer.out_dir="$OUT/tiny-llava-s1.run"
# stage 2 in three legs with the same recipe: the grounding-weighted mix, presence questions alone (grounds
# presence but leaves only Yes/No answers), then the format mix (brings the formats back, learns MMVP's options)
openeyes integrate train --stage 2 --mllm "$OUT/tiny-llava-s1" --data "$W/llava_mix_grounding.json" --out "$OUT/tiny-llava-s2" \
    --config zoo/tiny-llava/stage2.yaml trainer.out_dir="$OUT/tiny-llava-s2.run"
openeyes integrate train --stage 2 --mllm "$OUT/tiny-llava-s2" --data "$W/llava_pope.json" --out "$OUT/tiny-llava-s2-pope" \
    --config zoo/tiny-llava/stage2.yaml trainer.out_dir="$OUT/tiny-llava-s2-pope.run"
openeyes integrate train --stage 2 --mllm "$OUT/tiny-llava-s2-pope" --data "$W/llava_mix_leg3.json" --out "$OUT/tiny-llava" \
    --config zoo/tiny-llava/stage2.yaml trainer.out_dir="$OUT/tiny-llava.run"
openeyes zoo publish "$OUT/tiny-llava" tiny-llava

for enc in $SWAPS; do
  if [ "$enc" = base ]; then encoder=zoo:tiny-clip; else encoder="zoo:tiny-$enc"; fi
  openeyes integrate swap --mllm "$(openeyes zoo path tiny-llava)" --encoder "$encoder" --out "$OUT/swap-$enc"
  openeyes integrate train --stage 1 --mllm "$OUT/swap-$enc" --data "$W/llava_mix_leg3.json" --out "$OUT/tiny-llava-$enc" \
      --config zoo/tiny-llava/stage1.yaml trainer.steps="$SWAP_STEPS" trainer.batch_size=64 trainer.out_dir="$OUT/tiny-llava-$enc.run"
  [ "$enc" = base ] || openeyes zoo publish "$OUT/tiny-llava-$enc" "tiny-llava-$enc"  # the control stays in runs/
done
