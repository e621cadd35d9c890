#!/usr/bin/env bash
# DCR on zoo:world-prior as a resumable chain (issue 19). Re-run the same command to continue.
#   1. stage 1 (h_omega, encoder frozen) in legs STAGE1_LEGS until it binds: the mean `binding` of
#      the leg's last logged steps (L_dcr placed between its chance value and perfect separation,
#      training/recipes/dcr_report.py) reaches BIND (default 0.5), or it plateaus (it grew less
#      than PLATEAU, default 0.02, over the leg). Each leg's report goes to $RESULTS/stage1.jsonl.
#   2. stage 2 for MODES (lora: r=16 adapters, the reference, lr 1e-4; full: the whole vision tower, lr FULL_LR) and SEEDS,
#      in legs STAGE2_LEGS; after each leg the encoder is evaluated on the held-out world exports of
#      seeds 100, 101, 102 (openeyes eval encoder --bench all), next to the base, and its L_dcr reported
#      ($RESULTS/stage2.jsonl); a mode/seed stops at the leg where L_dcr fell by less than PLATEAU2 (1 %),
#      from STAGE2_MIN (1,000) steps on. Seed by seed: LoRA then full for seed 0, then seed 1, ...
#      Each leg's encoder also gets `openeyes eval drift` against the base ($RESULTS/drift/<mode>-<seed>-leg<steps>.json):
#      how far its weights, embeddings and patch tokens moved, and each MMVP pattern's image-pair cosine.
#   3. Theorem 1's class scatters (training/objectives/dcr_scatter.py), base vs each newest encoder, t = 100 and 500.
# Seed s trains stage 2 with trainer.seed=s, dcr.seed=s on world seed 1+s (as zoo/evidence_dcr.sh).
# After every leg $STATE (state/world-dcr) receives the markers, the projector, the stage-1 log and the
# newest checkpoints and models (each a few MB); a fresh clone without $OUT restores it and continues.
#   nice -n 10 bash zoo/build_world_dcr.sh
#   SAVE_STATE_ONLY=1 bash zoo/build_world_dcr.sh        (after stopping it mid-leg: the newest checkpoints into $STATE)
#   PRIOR=runs/world-prior-latent64/leg-3000 STAGE1_LEGS="200 500" bash zoo/build_world_dcr.sh
#   EXTRA="dcr.tau=0.02" OUT=runs/world-dcr-tau0.02 RESULTS=... bash zoo/build_world_dcr.sh
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
PRIOR=${PRIOR:-zoo:world-prior}
OUT=${OUT:-runs/world-dcr}
RESULTS=${RESULTS:-zoo/results/dcr/world-dcr}
STAGE1_LEGS=${STAGE1_LEGS:-"200 500 1000 2000 4000"}
STAGE2_LEGS=${STAGE2_LEGS:-"250 500 1000 2000 4000"}
MODES=${MODES:-"lora full"}
SEEDS=${SEEDS:-"0 1 2"}
WORLDS=${WORLDS:-"100 101 102"}
BIND=${BIND:-0.5}
PLATEAU=${PLATEAU:-0.02}
SCATTER_TIMESTEPS=${SCATTER_TIMESTEPS:-"100 500"}  # Theorem 1's scatters at these prior timesteps
FULL_LR=${FULL_LR:-1e-5}  # stage-2 lr of the full vision tower (LoRA keeps the config's 1e-4): at 1e-4 the whole tower forgot zero-shot within 250 steps
PLATEAU2=${PLATEAU2:-0.01}  # stage 2 stops a mode/seed once a leg lowers its L_dcr (mean of the last 10 logs) by less than 1 %
PUBLISH=${PUBLISH-lora-0}  # the mode-seed whose final encoder becomes zoo:world-dcr when its legs end ("" for none)
STAGE2_MIN=${STAGE2_MIN:-1000}  # ... but not before this many steps: a loss flat from the start is no reason to stop early
N=${N:-540}
EVAL=${EVAL:-1}
STATE=${STATE:-state/world-dcr}  # a copy of what resuming needs after every leg: commit it to carry the chain to another machine
CONFIG=zoo/world-dcr/train.yaml
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"  # more overrides for both stages, space-separated (e.g. "dcr.tau=0.02")
COMMON=(--config "$CONFIG" dcr.prior="$PRIOR" projector_out="$OUT/projector" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"})
mkdir -p "$OUT" "$RESULTS"

negatives() {  # K of the config, after any dcr.num_negatives=... in EXTRA
  python - "$CONFIG" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} <<'PY'
import sys, yaml
k = yaml.safe_load(open(sys.argv[1]))["dcr"]["num_negatives"]
for arg in sys.argv[2:]:
    if arg.startswith("dcr.num_negatives="):
        k = int(arg.split("=", 1)[1])
print(k)
PY
}
source zoo/chain.sh
evaluate() {  # evaluate MODEL NAME: every held-out world (the base keeps its figures and predictions)
  [ "$EVAL" = 1 ] || return 0
  KEEP_FILES=$([ "$2" = base ] && echo 1 || echo 0) evaluate_encoder_worlds "$1" "$RESULTS/eval/$2" "$OUT/world"
}

drift() {  # drift MODEL LABEL: how far MODEL moved from the base on the first world's MMVP-VLM pair images
  [ "$EVAL" = 1 ] || return 0
  local file="$RESULTS/drift/$2.json"
  [ -f "$file" ] || openeyes eval drift --encoder "$1" --reference zoo:tiny-clip --data "$OUT/world-${WORLDS%% *}/mmvp_vlm" \
      --out "$file" > /dev/null
}

leg_binding() {  # the binding recorded for stage-1 leg $1 ("" when that leg has no report)
  python - "$RESULTS/stage1.jsonl" "$1" <<'PY'
import json, os, sys
path, leg = sys.argv[1], int(sys.argv[2])
rows = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
print(next((r.get("binding", 0.0) for r in reversed(rows) if r.get("leg") == leg), ""))
PY
}
latest() {  # the newest checkpoint folder of trainer run $1 (nothing when there is none)
  { ls -d "$1"/checkpoints/step_* 2> /dev/null || true; } | sort | tail -1
}
save_state() {  # what a fresh clone needs to continue: markers, projector, stage-1 log, newest checkpoints and models
  rm -rf "$STATE.tmp" && mkdir -p "$STATE.tmp"
  local keep
  keep=$(realpath "$STATE.tmp")
  (cd "$OUT" && find . \( -name '*.done' -o -name prior.sha -o -path ./s1/stage1/log.jsonl \) -exec cp --parents {} "$keep" \;)
  if [ -d "$OUT/projector" ]; then cp -r "$OUT/projector" "$keep/"; fi
  for run in "$OUT"/s1/stage1 "$OUT"/s2-*/stage2; do
    [ -f "$(dirname "$run")/finished.done" ] && continue  # its legs are over: the model is kept, not the optimizer
    checkpoint=$(latest "$run")
    if [ -n "$checkpoint" ]; then
      mkdir -p "$keep/${run#"$OUT"/}/checkpoints" && cp -r "$checkpoint" "$keep/${run#"$OUT"/}/checkpoints/"
    fi
  done
  for models in "$OUT"/models/*; do
    newest=$(newest_leg "$models")
    if [ -n "$newest" ]; then mkdir -p "$keep/models/$(basename "$models")" && cp -r "$newest" "$keep/models/$(basename "$models")/"; fi
  done
  rm -rf "$STATE" && mv "$STATE.tmp" "$STATE"
}
if [ ! -d "$OUT/s1" ] && [ -d "$STATE" ]; then
  cp -r "$STATE"/. "$OUT"/ && echo "restored $STATE into $OUT"  # continue where another machine stopped
fi

prior_hash() {  # sha256 over the prior's weight files: the chain belongs to one prior
  local folder="$PRIOR"
  [[ "$PRIOR" == zoo:* ]] && folder="zoo/${PRIOR#zoo:}"
  find "$folder" -name '*.safetensors' -print0 | sort -z | xargs -0 sha256sum | awk '{print $1}' | sha256sum | cut -c1-16
}
current=$(prior_hash)
if [ -f "$OUT/prior.sha" ] && [ "$(cat "$OUT/prior.sha")" != "$current" ]; then
  echo "error: $OUT was trained on another $PRIOR (weights $(cat "$OUT/prior.sha"), now $current): move $OUT and $STATE aside to start over" >&2
  exit 2
fi
echo "$current" > "$OUT/prior.sha"

if [ "${SAVE_STATE_ONLY:-0}" = 1 ]; then  # after stopping the chain mid-leg: copy its newest checkpoints to $STATE
  save_state && echo "saved $OUT's state to $STATE" && exit 0
fi

evaluate zoo:tiny-clip base
K=$(negatives)
previous=""
for steps in $STAGE1_LEGS; do  # stage 1 until it binds or plateaus
  if [ ! -f "$OUT/stage1-leg-$steps.done" ]; then
    openeyes train dcr --stage 1 "${COMMON[@]}" run_dir="$OUT/s1" stage1.trainer.steps="$steps"
    python -m openeyes.training.recipes.dcr_report "$OUT/s1/stage1" --negatives "$K" |
      python -c "import json, sys; r = json.load(sys.stdin); r['leg'] = int(sys.argv[1]); print(json.dumps(r))" "$steps" \
      >> "$RESULTS/stage1.jsonl"
    touch "$OUT/stage1-leg-$steps.done"
    save_state
  fi
  binding=$(leg_binding "$steps")
  if python -c "import sys; b, bind, plateau, prev = sys.argv[1:5]; b = float(b or 0)
sys.exit(0 if b >= float(bind) or (prev and b - float(prev) < float(plateau)) else 1)" \
      "$binding" "$BIND" "$PLATEAU" "$previous"; then
    break
  fi
  previous=$binding
done

stage2_loss() {  # the mean L_dcr recorded for stage-2 leg $3 of mode $1, seed $2 ("" when none)
  python - "$RESULTS/stage2.jsonl" "$1" "$2" "$3" <<'PY'
import json, os, sys
path, mode, seed, leg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
print(next((r["dcr"] for r in reversed(rows) if (r.get("mode"), r.get("seed"), r.get("leg")) == (mode, seed, leg)), ""))
PY
}
for seed in $SEEDS; do  # seed by seed, both modes each: every finished seed is a complete LoRA-vs-full comparison
  for mode in $MODES; do
    lora=true lr_args=()
    if [ "$mode" = full ]; then lora=false lr_args=(stage2.optim.lr="$FULL_LR"); fi
    previous=""
    for steps in $STAGE2_LEGS; do  # a leg's marker means: trained, exported, evaluated, reported
      model="$OUT/models/$mode-$seed/leg-$steps"
      if [ ! -f "$OUT/s2-$mode-$seed/leg-$steps.done" ]; then
        [ -f "$model/openeyes.json" ] || openeyes train dcr --stage 2 "${COMMON[@]}" run_dir="$OUT/s2-$mode-$seed" \
            out="$model" lora.enabled=$lora stage2.trainer.steps="$steps" stage2.trainer.seed="$seed" dcr.seed="$seed" \
            data.world_seed=$((1 + seed)) ${lr_args[@]+"${lr_args[@]}"}
        evaluate "$model" "$mode-$seed-leg$steps"
        drift "$model" "$mode-$seed-leg$steps"
        python -m openeyes.training.recipes.dcr_report "$OUT/s2-$mode-$seed/stage2" --negatives "$K" --last 10 |
          python -c "import json, sys; r = json.load(sys.stdin); r.update(mode=sys.argv[1], seed=int(sys.argv[2]), leg=int(sys.argv[3]))
print(json.dumps(r))" "$mode" "$seed" "$steps" >> "$RESULTS/stage2.jsonl"
        touch "$OUT/s2-$mode-$seed/leg-$steps.done"
        save_state
      fi
      loss=$(stage2_loss "$mode" "$seed" "$steps")
      if python -c "import sys; loss, prev, plateau = sys.argv[1:4]
sys.exit(0 if loss and prev and float(prev) - float(loss) < float(plateau) * float(prev) else 1)" \
          "$loss" "$previous" "$PLATEAU2" && [ "$steps" -ge "$STAGE2_MIN" ]; then
        echo "stage 2 $mode seed $seed: L_dcr plateaued at leg $steps ($previous -> $loss)"
        break
      fi
      previous=$loss
    done
    if [ ! -f "$OUT/s2-$mode-$seed/finished.done" ]; then touch "$OUT/s2-$mode-$seed/finished.done" && save_state; fi
    final=$(newest_leg "$OUT/models/$mode-$seed")
    if [ "$mode-$seed" = "$PUBLISH" ] && [ -n "$final" ] && [ "$(cat "$OUT/published" 2> /dev/null)" != "$final" ]; then
      openeyes zoo publish "$final" world-dcr && echo "$final" > "$OUT/published"  # the demo's DCR encoder
    fi
  done
done

for models in "$OUT"/models/*-*; do  # drift of legs that finished before the chain measured it (their models still here)
  for model in $({ ls -d "$models"/leg-* 2> /dev/null || true; } | sort -V); do
    drift "$model" "$(basename "$models")-leg${model##*leg-}"
  done
done

# The tables: the base vs each mode at its final leg (one repeat per seed and world) -> $RESULTS/table, and
# every leg on the way (mode-leg labels) -> $RESULTS/table-legs; both with the per-pattern tables
if [ "$EVAL" = 1 ]; then
  finals=() legs=()
  for w in $WORLDS; do finals+=("base=$RESULTS/eval/base-w$w"); legs+=("base=$RESULTS/eval/base-w$w"); done
  bases=${#finals[@]}
  for mode in $MODES; do
    for seed in $SEEDS; do
      newest=$(newest_leg "$OUT/models/$mode-$seed")
      [ -n "$newest" ] || continue
      for w in $WORLDS; do finals+=("dcr-$mode=$RESULTS/eval/$mode-$seed-leg${newest##*leg-}-w$w"); done
      for done_leg in $({ ls "$OUT/s2-$mode-$seed"/leg-*.done 2> /dev/null || true; } | sort -V); do
        steps=${done_leg##*leg-}; steps=${steps%.done}
        for w in $WORLDS; do legs+=("$mode-$steps=$RESULTS/eval/$mode-$seed-leg$steps-w$w"); done
      done
    done
  done
  if [ ${#finals[@]} -gt "$bases" ]; then
    openeyes eval compare "${finals[@]}" --out "$RESULTS/table" --by-pattern --paired-to base > /dev/null
    openeyes eval compare "${legs[@]}" --out "$RESULTS/table-legs" --by-pattern --paired-to base > /dev/null
  fi
fi

# Theorem 1: class scatter in feature and noise space, the base vs each seed's newest encoder of each mode
# (same stage-1 projector and prior), at an early and a late timestep; one file per mode, seed and timestep
for mode in $MODES; do
  for seed in $SEEDS; do
    newest=$(newest_leg "$OUT/models/$mode-$seed")
    [ -n "$newest" ] || continue
    for t in $SCATTER_TIMESTEPS; do
      scatter="$RESULTS/theorem1/$mode-$seed-$(basename "$newest")-t$t.json"
      [ -f "$scatter" ] && continue
      mkdir -p "$RESULTS/theorem1"
      python -m openeyes.training.objectives.dcr_scatter --encoder base=zoo:tiny-clip --encoder "dcr=$newest" \
          --projector "$OUT/projector" --prior "$PRIOR" --timestep "$t" --world-seed 100 --out "$scatter"
    done
  done
done
