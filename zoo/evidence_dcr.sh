#!/usr/bin/env bash
# Reproduces docs/RESULTS.md's DCR tables: the tiny prior (with / without the spectral regularizer), the base
# tiny CLIP vs DCR, DCR + SaCo and DCR + CLIPin over 3 seeds, the local-token ratio ablation
# (Table 3 of the DCR supplement; seed 0 only), Theorem 1's scatter quantities and the DCR step bench.
#   bash zoo/evidence_dcr.sh                  (about 80 min on one shared CPU core)
#   STEPS="table ablation" bash zoo/evidence_dcr.sh   (some parts only)
# Protocol: stage 1 (the projector h_omega) runs once, seed 0, on the base encoder and zoo:tiny-prior;
# every stage-2 run starts from that projector. Seed s trains stage 2 with trainer.seed=s, dcr.seed=s
# on world training seed 1+s and evaluates on a held-out world export of seed 100+s (test split).
# Seed 0's plain DCR run is zoo:tiny-dcr (fp16 weights). Each ablation ratio r > 0 has its own
# stage 1 (the projector then also maps local tokens). Results go to zoo/results/dcr/.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
OUT=${OUT:-runs/evidence/dcr}
RESULTS=${RESULTS:-zoo/results/dcr}
WORLDS=${WORLDS:-$OUT}        # holds world-<s>/ (runs/evidence/encoders has the same exports)
N=${N:-540}
SEEDS=${SEEDS:-"0 1 2"}
RATIOS=${RATIOS:-"0.1 0.5 1.0"}
STEPS=${STEPS:-"prior spectral quality stage1 table scatter ablation bench card"}
CONFIG=zoo/tiny-dcr/train.yaml
RUN="nice -n 5"
mkdir -p "$OUT" "$RESULTS"
want() { [[ " $STEPS " == *" $1 "* ]]; }

world_of() {  # the held-out world export of seed 100 + $1
  local world="$WORLDS/world-$1"
  [ -f "$world/world.json" ] || $RUN openeyes world generate --out "$world" --seed $((100 + $1)) --n "$N" --size 64 \
      --only mmvp_vlm,classification,retrieval
  echo "$world"
}

evaluate() {  # evaluate MODEL NAME SEED
  [ -f "$OUT/eval/$2-$3/summary.json" ] || $RUN openeyes eval encoder --encoder "$1" --bench all \
      --data "$(world_of "$3")" --out "$OUT/eval/$2-$3" --seed "$3"
}

stage2() {  # stage2 NAME SEED MODEL_OUT [overrides...]: stage 2 from the shared seed-0 projector
  local name=$1 seed=$2 model=$3
  shift 3
  [ -f "$model/openeyes.json" ] && [ -f "$OUT/stage2/$name-$seed/stage2/summary.json" ] && return 0
  $RUN openeyes train dcr --stage 2 --config "$CONFIG" run_dir="$OUT/stage2/$name-$seed" out="$model" \
      projector_out="$OUT/dcr-r0/projector" stage2.trainer.seed="$seed" dcr.seed="$seed" \
      data.world_seed=$((1 + seed)) stage2.trainer.resume=never "$@"
}

if want prior; then  # the zoo prior
  [ -f "$OUT/prior-plain/openeyes.json" ] || $RUN openeyes train prior --config zoo/tiny-prior/train.yaml \
      out="$OUT/prior-plain" trainer.out_dir="$OUT/prior-plain-run"
  openeyes zoo publish "$OUT/prior-plain" tiny-prior --dtype float32
fi
if want spectral; then  # its spectral twin: same config, steps and seed, plus lambda * L_s (Eq. 15)
  [ -f "$OUT/prior-spectral/openeyes.json" ] || \
      $RUN openeyes train prior --config zoo/tiny-prior/train.yaml spectral.enabled=true name=tiny-prior-spectral \
      out="$OUT/prior-spectral" trainer.out_dir="$OUT/prior-spectral-run"
fi
if want quality; then  # FD in tiny-clip feature space + zero-shot accuracy of class-conditioned samples
  $RUN python -m openeyes.training.prior.quality --prior zoo:tiny-prior --out "$RESULTS/prior_quality_plain.json"
  $RUN python -m openeyes.training.prior.quality --prior "$OUT/prior-spectral" --out "$RESULTS/prior_quality_spectral.json"
fi
if want stage1; then
  [ -f "$OUT/dcr-r0/projector/projector.safetensors" ] || $RUN openeyes train dcr --stage 1 --config "$CONFIG" run_dir="$OUT/dcr-r0"
fi
if want table; then
  runs=()
  for s in $SEEDS; do
    evaluate zoo:tiny-clip base "$s"
    dcr_model="$OUT/models/dcr-$s"
    stage2 dcr "$s" "$dcr_model"
    if [ "$s" = 0 ]; then openeyes zoo publish "$dcr_model" tiny-dcr; fi
    stage2 dcr_saco "$s" "$OUT/models/dcr_saco-$s" weights_dtype=float32 \
        "stage2_objectives=[{name: saco, weight: 1.0, options: {mode: continue, alpha: 5.0}}]"
    stage2 dcr_clipin "$s" "$OUT/models/dcr_clipin-$s" weights_dtype=float32 \
        "stage2_objectives=[{name: clipin, weight: 1.0, options: {pre_dim: 256, contrastive_dim: 128, noncontrastive_dim: 1024, predictor_hidden_dim: 256, contrastive: false, image_augment: {flip_prob: 0.0}}}]"
    evaluate "$dcr_model" dcr "$s"
    evaluate "$OUT/models/dcr_saco-$s" dcr_saco "$s"
    evaluate "$OUT/models/dcr_clipin-$s" dcr_clipin "$s"
    runs+=("base=$OUT/eval/base-$s" "dcr=$OUT/eval/dcr-$s" "dcr+saco=$OUT/eval/dcr_saco-$s" "dcr+clipin=$OUT/eval/dcr_clipin-$s")
  done
  openeyes eval compare "${runs[@]}" --out "$RESULTS/table"
fi
if want ablation; then  # local-token ratio (share of patch tokens appended to the condition), seed 0
  runs=("0%=$OUT/eval/dcr-0")
  for r in $RATIOS; do
    [ -f "$OUT/dcr-r$r/projector/projector.safetensors" ] || \
        $RUN openeyes train dcr --stage 1 --config "$CONFIG" run_dir="$OUT/dcr-r$r" dcr.local_ratio="$r"
    [ -f "$OUT/models/dcr-r$r/openeyes.json" ] || $RUN openeyes train dcr --stage 2 --config "$CONFIG" \
        run_dir="$OUT/dcr-r$r" dcr.local_ratio="$r" out="$OUT/models/dcr-r$r" weights_dtype=float32
    evaluate "$OUT/models/dcr-r$r" "dcr-r$r" 0
    runs+=("$(python -c "print(f'{round(float($r) * 100)}%')")=$OUT/eval/dcr-r$r-0")
  done
  openeyes eval compare "${runs[@]}" --out "$RESULTS/ablation"
fi
if want scatter; then  # Theorem 1: class scatter in feature and noise space, base vs DCR, same projector
  $RUN python -m openeyes.training.objectives.dcr_scatter --encoder base=zoo:tiny-clip --encoder dcr=zoo:tiny-dcr \
      --projector "$OUT/dcr-r0/projector" --prior zoo:tiny-prior --timestep 500 --out "$RESULTS/theorem1_t500.json"
  $RUN python -m openeyes.training.objectives.dcr_scatter --encoder base=zoo:tiny-clip --encoder dcr=zoo:tiny-dcr \
      --projector "$OUT/dcr-r0/projector" --prior zoo:tiny-prior --timestep 100 --out "$RESULTS/theorem1_t100.json"
fi
if want bench; then
  $RUN python bench/dcr_step.py --repeats 3 | tee "$RESULTS/dcr_step.json"
fi
if want card; then  # the results folder's card (what was run, on what)
  python - "$RESULTS" "$SEEDS" "$RATIOS" "$N" <<'PY'
import sys
import openeyes  # noqa: F401
from openeyes.artifacts import write_card
results, seeds, ratios, n = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
write_card(results, "results", "dcr-tables", base="zoo:tiny-clip", seed=0,
           config={"command": "bash zoo/evidence_dcr.sh", "seeds": [int(s) for s in seeds],
                   "world_eval_seeds": [100 + int(s) for s in seeds], "n": n, "prior": "zoo:tiny-prior",
                   "dcr_config": "zoo/tiny-dcr/train.yaml", "local_ratios": [0.0] + [float(r) for r in ratios]},
           data="held-out world exports (test split) of seeds 100, 101, 102: mmvp_vlm, classification, retrieval")
PY
fi
