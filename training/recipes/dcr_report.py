"""How far a DCR stage-1 run has bound h_omega: the mean of its last logged steps, as one JSON line.

A stage-1 run is read from its ``log.jsonl`` (the trainer's per-step records). Single steps are
noisy (batches of a dozen anchors), so the report averages the last ``last`` logged records of
L_dcr and of the binding diagnostics of ``training.objectives.dcr``:
``binding`` (0 at chance, 1 at perfect separation), ``loss_chance`` / ``loss_bound`` (the limits
of L for the step's own positives), ``feature_gain`` (negatives' error to the target over the
anchor's), ``pos_beats_negs``, ``anchor_mse``, next to ``log(K + 2)`` for the paper's reading.

    python -m openeyes.training.recipes.dcr_report RUN_DIR/stage1 --negatives 3 [--last 5]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from openeyes.errors import UserError

FIELDS = {"dcr": "dcr", "binding": "_dcr_binding", "loss_chance": "_dcr_loss_chance", "loss_bound": "_dcr_loss_bound",
          "feature_gain": "_dcr_feature_gain", "pos_beats_negs": "_dcr_pos_beats_negs", "anchor_mse": "_dcr_anchor_mse",
          "cos_pos": "_dcr_cos_pos", "cos_neg": "_dcr_cos_neg", "cos_target": "_dcr_cos_target"}


def logged_records(run_dir: Path) -> list[dict]:
    """The records of ``run_dir/log.jsonl`` that carry L_dcr, in step order."""
    path = run_dir / "log.jsonl"
    if not path.is_file():
        raise UserError(f"{path} does not exist: not a trainer run folder")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((r for r in records if "dcr" in r), key=lambda r: r["step"])


def stage1_report(run_dir: str | Path, negatives: int, last: int = 5) -> dict:
    """Means of the last ``last`` logged records (fields absent from older logs are left out)."""
    records = logged_records(Path(run_dir))
    if not records:
        raise UserError(f"{run_dir}/log.jsonl has no logged L_dcr yet")
    tail = records[-last:]
    report: dict = {"step": tail[-1]["step"], "records": len(tail), "log_k_plus_2": math.log(negatives + 2)}
    for name, key in FIELDS.items():
        values = [r[key] for r in tail if key in r]
        if values:
            report[name] = sum(values) / len(values)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a stage-1 trainer run folder (<run_dir>/stage1)")
    parser.add_argument("--negatives", type=int, required=True, help="K, the config's dcr.num_negatives")
    parser.add_argument("--last", type=int, default=5, help="how many of the last logged records to average")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(stage1_report(args.run_dir, args.negatives, args.last)))
    except UserError as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
