#!/usr/bin/env bash
# Pixel 32 px or tiny-VAE latents at 64 px for the world prior? Both spaces run the first leg of
# zoo/build_world_prior.sh (same UNet, text encoder, data, seed, steps; the latent arm also pays for its
# VAE pre-stage), side by side, one thread each. Each leg records its CPU seconds (leg-N.time.jsonl) and
# its gates, so the condition gain per CPU-second decides (docs/RESULTS.md, "DCR: prior space"); the
# winner's chain then continues from the same run folder: SPACE=<winner> bash zoo/build_world_prior.sh
#   bash zoo/prior_space.sh            LEGS="300" (prior steps of the compared leg)
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
LEGS=${LEGS:-300}
RUN=${RUN:-nice -n 15}
for space in pixel32 latent64; do
  SPACE=$space LEGS=$LEGS $RUN bash zoo/build_world_prior.sh > "/tmp/prior_space_$space.log" 2>&1 &
done
wait
