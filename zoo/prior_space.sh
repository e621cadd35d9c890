#!/usr/bin/env bash
# Pixel 32 px or tiny-VAE latents at 64 px for the world prior? Both spaces run the first leg of
# zoo/build_world_prior.sh (same UNet, text encoder, data, seed, steps; the latent arm also pays for its
# VAE pre-stage), side by side, one thread each. Each leg records its CPU seconds (leg-N.time.jsonl) and
# its gates; zoo/results/dcr/prior-space.json then states, per space, the condition gain above 1 per
# CPU-second, and the choice: the space with the higher rate (latent64 when neither gain moved, for its
# 64 px detail at a quarter of the UNet positions). With CONTINUE=1 (default) the chosen space's chain
# then continues (SPACE=<choice> bash zoo/build_world_prior.sh, all legs, in its own run folder).
# The comparison recorded in zoo/results/dcr/prior-space ran with self-attention on every attention level
# (ARCH, model.cross_only_levels=0); the chain now drops it at the top level (train.yaml), 1.8x faster steps.
#   bash zoo/prior_space.sh            FIRST=300 (prior steps of the compared leg)
# Re-running is safe: finished legs are skipped, interrupted ones resume.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
FIRST=${FIRST:-300}
RUN=${RUN:-nice -n 15}
CONTINUE=${CONTINUE:-1}
ARCH=${ARCH:-model.cross_only_levels=0}
mkdir -p runs
for space in pixel32 latent64; do
  SPACE=$space LEGS=$FIRST EXTRA="$ARCH" OUT=runs/prior-space-$space RESULTS=zoo/results/dcr/prior-space/$space \
    $RUN bash zoo/build_world_prior.sh > "runs/prior_space_$space.log" 2>&1 &
done
wait
choice=$(python - "$FIRST" <<'PY'
import json, sys
from pathlib import Path
first, rows = sys.argv[1], {}
for space in ("pixel32", "latent64"):
    folder = Path(f"zoo/results/dcr/prior-space/{space}")
    summary = json.loads((folder / f"leg-{first}" / "gates.json").read_text())["summary"]
    times = [json.loads(line) for line in (folder / f"leg-{first}.time.jsonl").read_text().splitlines() if line.strip()]
    cpu = sum(t["user_s"] + t["sys_s"] for t in times)
    gain = summary["mean_gain_in_pair_band"]
    rows[space] = {"cpu_seconds": round(cpu, 1), "mean_gain_in_pair_band": gain, "gain_above_1_per_cpu_hour":
                   (gain - 1.0) / cpu * 3600, "mean_accuracy": summary["mean_accuracy"],
                   "teachable_patterns": summary["teachable_patterns"]}
moved = [s for s, r in rows.items() if r["mean_gain_in_pair_band"] > 1.001]
choice = max(moved, key=lambda s: rows[s]["gain_above_1_per_cpu_hour"]) if moved else "latent64"
rule = "higher gain above 1 per CPU-second" if moved else "neither gain moved: latent64 by default"
Path("zoo/results/dcr/prior-space.json").write_text(json.dumps({"first_leg_steps": int(first), "arms": rows,
                                                                 "choice": choice, "rule": rule}, indent=1) + "\n")
print(choice)
PY
)
echo "prior space: $choice"
if [ "$CONTINUE" = 1 ]; then
  SPACE=$choice nice -n 10 bash zoo/build_world_prior.sh
fi
