# Shared helpers of the resumable zoo chains (zoo/build_world_*.sh); source it, do not run it.
# Every helper is idempotent: what already exists is reused, so a chain re-run continues where it stopped.

world_export() {  # world_export FOLDER SEED N ONLY: the world export of SEED in FOLDER (made once); prints FOLDER
  local folder=$1
  [ -f "$folder/world.json" ] || openeyes world generate --out "$folder" --seed "$2" --n "$3" --size 64 \
      --only "$4" >&2  # stdout carries only the folder
  echo "$folder"
}

newest_leg() {  # newest_leg FOLDER: the highest FOLDER/leg-<steps> (nothing when there is none)
  { ls -d "$1"/leg-* 2> /dev/null || true; } | sort -V | tail -1
}

evaluated_on_all_worlds() {  # evaluated_on_all_worlds DEST: true when DEST-w<seed>/summary.json exists for every
  # world seed of $WORLDS; a finished run then needs neither its model nor its training again (on a fresh
  # machine runs/ is gone, the committed results are not)
  local w
  for w in $WORLDS; do [ -f "$1-w$w/summary.json" ] || return 1; done
}

evaluate_encoder_worlds() {  # evaluate_encoder_worlds MODEL DEST WORLD_ROOT: `eval encoder --bench all` on every
  # world seed of $WORLDS (exports WORLD_ROOT-<seed>, $N images) into DEST-w<seed>; KEEP_FILES=1 keeps
  # the figures and per-item predictions (the base's), otherwise they are deleted to keep the repo small
  local w folder
  for w in $WORLDS; do
    [ -f "$2-w$w/summary.json" ] && continue
    folder=$(world_export "$3-$w" "$w" "$N" mmvp_vlm,classification,retrieval,attribute_probe)
    openeyes eval encoder --encoder "$1" --bench all --data "$folder" --out "$2-w$w" --seed "$w"
    [ "${KEEP_FILES:-0}" = 1 ] || find "$2-w$w" \( -name '*.png' -o -name predictions.jsonl \) -delete
  done
}
