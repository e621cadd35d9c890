#!/usr/bin/env bash
# Pixel 32 px or tiny-VAE latents at 64 px for the world prior? Same UNet, text encoder, data, seed and
# prior steps; the latent arm also pays for its VAE pre-stage. Each arm records its CPU seconds
# (user + sys, /usr/bin/time) and its gates (openeyes train prior-gates, world seed 100), so the
# condition gain per CPU-second decides (docs/RESULTS.md, "DCR: prior space").
#   bash zoo/prior_space.sh                      STEPS=300 (prior steps per arm), VAE_STEPS=400
# The two arms run side by side (one thread each). Re-running skips arms whose gates exist; the trainer
# resumes an interrupted arm (trainer.resume=auto; the CPU seconds then cover the last invocation only).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
OUT=${OUT:-runs/prior-space}
RESULTS=${RESULTS:-zoo/results/dcr/prior-space}
STEPS=${STEPS:-300}
VAE_STEPS=${VAE_STEPS:-400}
RUN=${RUN:-nice -n 15}
CONFIG=zoo/world-prior/train.yaml
mkdir -p "$OUT" "$RESULTS"

arm() {  # arm NAME [overrides...]
  local name=$1
  shift
  if [ ! -f "$RESULTS/$name/gates.json" ]; then
    /usr/bin/time -f '{"user_s": %U, "sys_s": %S, "wall_s": %e}' -o "$RESULTS/$name.time.json" \
      $RUN openeyes train prior --config "$CONFIG" name="space-$name" out="$OUT/$name/artifact" \
        trainer.out_dir="$OUT/$name/run" trainer.steps="$STEPS" trainer.resume=auto vae_train.steps="$VAE_STEPS" "$@"
    $RUN openeyes train prior-gates --prior "$OUT/$name/artifact" --out "$RESULTS/$name" --n-images 128 --pair-draws 4
  fi
}

arm pixel32 model.space=pixel model.image_size=32 &
arm latent64 model.space=latent model.image_size=64 &
wait
