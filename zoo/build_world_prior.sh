#!/usr/bin/env bash
# The long, resumable build of zoo:world-prior (issue 19): legs of one prior run at a constant LR, each
# leg ending in an artifact, its gates (openeyes train prior-gates, world seed 100) and, once the gates
# are met, the zoo entry (fp16). Re-run the same command to continue: finished legs are skipped, an
# interrupted leg resumes from its last checkpoint (trainer.resume=auto; checkpoints hold the UNet, the
# text encoder and the optimizer state; a latent prior's frozen VAE trains once in <run>/vae).
# After each leg the latest checkpoint is copied to $STATE (state/..., outside the packaged zoo): committed, it lets a fresh
# clone on another machine continue the chain (legs gated elsewhere are skipped).
#   nice -n 10 bash zoo/build_world_prior.sh                       (CPU: days; see docs/RESULTS.md)
#   LEGS="2000 6000" SPACE=latent64 bash zoo/build_world_prior.sh
#   DDP=2 bash zoo/build_world_prior.sh                            (two processes, gloo on CPU / NCCL on GPUs)
#   EXTRA="model.cross_only_levels=0" ...                           (more config overrides, space-separated)
# On a CUDA GPU the same command runs unchanged (bf16 autocast); bring diffusers' wheel along.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
SPACE=${SPACE:-pixel32}               # pixel32 | latent64 (chosen by zoo/prior_space.sh: pixel32)
LEGS=${LEGS:-"300 1000 3000 6000 12000 24000"}
OUT=${OUT:-runs/world-prior-$SPACE}
RESULTS=${RESULTS:-zoo/results/dcr/world-prior-$SPACE}
STATE=${STATE:-state/world-prior-$SPACE}  # a copy of the latest checkpoint after every leg: commit it to carry the chain to another machine
DDP=${DDP:-1}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
CONFIG=zoo/world-prior/train.yaml
case "$SPACE" in
  pixel32) SPACE_ARGS=(model.space=pixel model.image_size=32) ;;
  latent64) SPACE_ARGS=(model.space=latent model.image_size=64) ;;
  *) echo "SPACE must be pixel32 or latent64" >&2; exit 2 ;;
esac
if [ "$DDP" -gt 1 ]; then
  TRAIN=(openeyes-launch --multi_gpu --num_processes "$DDP" --num_machines 1 --mixed_precision no
         --dynamo_backend no -m openeyes.training.cli prior)
else
  TRAIN=(openeyes train prior)
fi
mkdir -p "$OUT" "$RESULTS"
if ! ls -d "$OUT"/run/checkpoints/step_* > /dev/null 2>&1 && ls -d "$STATE"/step_* > /dev/null 2>&1; then
  mkdir -p "$OUT/run/checkpoints" && cp -r "$STATE"/step_* "$OUT/run/checkpoints/"  # resume where another machine stopped
  echo "restored $(ls "$STATE") from $STATE"
fi

for steps in $LEGS; do
  leg="$OUT/leg-$steps"
  if [ -f "$RESULTS/leg-$steps/gates.json" ] && [ ! -f "$leg/openeyes.json" ]; then
    continue  # finished and gated on another machine (its artifact stayed there; a met gate published it)
  fi
  if [ ! -f "$leg/openeyes.json" ]; then  # CPU seconds of every invocation, one JSON line each
    /usr/bin/time -a -o "$RESULTS/leg-$steps.time.jsonl" -f '{"user_s": %U, "sys_s": %S, "wall_s": %e}' \
      "${TRAIN[@]}" --config "$CONFIG" "${SPACE_ARGS[@]}" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} out="$leg" trainer.out_dir="$OUT/run" trainer.steps="$steps" \
        trainer.resume=auto optim.schedule=constant trainer.checkpoint_every=200
    latest=$(ls -d "$OUT"/run/checkpoints/step_* | sort | tail -1)
    rm -rf "$STATE.tmp" && mkdir -p "$STATE.tmp" && cp -r "$latest" "$STATE.tmp/" && rm -rf "$STATE" && mv "$STATE.tmp" "$STATE"
  fi
  if [ ! -f "$RESULTS/leg-$steps/gates.json" ]; then
    openeyes train prior-gates --prior "$leg" --out "$RESULTS/leg-$steps"
  fi
  if python - "$RESULTS/leg-$steps/gates.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["summary"]
sys.exit(0 if summary["gain_gate_met"] and summary["teachable_patterns"] else 1)
PY
  then
    openeyes zoo publish "$leg" world-prior  # fp16 weights, card re-hashed
  fi
done
