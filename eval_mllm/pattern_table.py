"""Per-pattern tables of the MMVP-style benchmarks, mean ± std over repeats.

``openeyes eval compare --by-pattern`` adds them beside the headline table: one row per run label
(repeats share a label, as in ``compare``) and one column per MMVP pattern (or CV-Bench task), for
- MMVP-VLM: the pair accuracy (percent) of each of the nine categories, and the mean cosine between
  the pooled embeddings of a pair's two images (an encoder that sees the one-attribute difference
  better places them further apart, whatever the text tower makes of it), and the mean probability
  the text->image softmax gives each statement's own image (0.5: no preference; it moves before the
  pair accuracy, which needs both statements above 0.5);
- the attribute probe: the test accuracy of each pattern's linear probe on pooled features and on
  patch tokens;
- MMVP answered by an MLLM on a world export: the pair accuracy (percent) of each world pattern,
  from the run's predictions (``openeyes.world.mmvp_patterns``);
- CV-Bench: the accuracy (percent) of each task (Count, Relation, Depth, Distance).
A fine-perception gain shows here before it moves a mean over nine patterns.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from openeyes.artifacts import write_json_atomic
from openeyes.eval_mllm.compare import RunResult, mean_std, collect, format_cell
from openeyes.eval_mllm.encoder.scoring.attribute_probe import metric_key
from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import TYPE_TO_CATEGORY

PATTERNS = tuple(TYPE_TO_CATEGORY)  # the nine MMVP-VLM Types, in the reference's row order
CV_BENCH_TASKS = ("Count", "Relation", "Depth", "Distance")
Reader = Callable[[dict, Path], dict[str, Any]]  # (results.json, results folder) -> {column: value or None}


def _mmvp_vlm(field: str) -> Reader:
    def read(raw: dict, _: Path) -> dict[str, Any]:
        categories = raw.get("per_category") or {}
        return {p: (categories.get(TYPE_TO_CATEGORY[p]) or {}).get(field) for p in PATTERNS}
    return read


def _probe(kind: str) -> Reader:
    return lambda raw, _: {p: raw["metrics"].get(metric_key(kind, p)) for p in PATTERNS}


def _mmvp_world_patterns(_: dict, folder: Path) -> dict[str, Any]:
    from openeyes.world.mmvp_patterns import pattern_scores

    predictions = folder / "predictions.jsonl"
    if not predictions.is_file():
        return {}
    rows = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    if not all(str(row.get("id", "")).isdigit() for row in rows):
        return {}  # not a world export's row numbering
    scores = pattern_scores(rows)
    return {p: 100.0 * scores[p]["pair_accuracy"] if p in scores else None for p in PATTERNS}


def _cv_bench_tasks(raw: dict, _: Path) -> dict[str, Any]:
    categories = raw.get("per_category") or {}
    return {t: None if (found := categories.get(f"task/{t}")) is None else 100.0 * found["accuracy"] for t in CV_BENCH_TASKS}


TABLES: dict[str, tuple[str, tuple[str, ...], Reader]] = {  # table -> (benchmark, columns, reader)
    "MMVP-VLM pair accuracy (%)": ("mmvp_vlm", PATTERNS, _mmvp_vlm("accuracy")),
    "MMVP-VLM image-pair cosine (lower: the pair's two images further apart)": ("mmvp_vlm", PATTERNS,
                                                                               _mmvp_vlm("image_pair_cosine")),
    "MMVP-VLM right-image probability (0.5: no preference)": ("mmvp_vlm", PATTERNS,
                                                               _mmvp_vlm("right_image_probability")),
    "attribute probe, pooled features": ("attribute_probe", PATTERNS, _probe("pooled")),
    "attribute probe, patch tokens": ("attribute_probe", PATTERNS, _probe("patches")),
    "MMVP (MLLM) pair accuracy (%) per world pattern": ("mmvp", PATTERNS, _mmvp_world_patterns),
    "CV-Bench accuracy (%) per task": ("cv_bench", CV_BENCH_TASKS, _cv_bench_tasks),
}


def pattern_values(results: list[RunResult]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{table: {label: {column: [value per repeat]}}} for the tables the runs have data for."""
    values: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for result in results:
        raw = json.loads((result.path / "results.json").read_text())
        for table, (benchmark, _, read) in TABLES.items():
            if result.benchmark != benchmark:
                continue
            for column, value in read(raw, result.path).items():
                if value is not None:
                    values[table][result.label][column].append(float(value))
    return values


def pattern_summary(results: list[RunResult]) -> dict[str, Any]:
    """{table: {label: {column: {mean, std, n}}}}; labels in the order the runs name them."""
    labels = list(dict.fromkeys(r.label for r in results))
    values = pattern_values(results)
    return {table: {label: {c: mean_std(values[table][label][c]) for c in columns} for label in labels
                    if label in values[table]}
            for table, (_, columns, _) in TABLES.items() if table in values}


def pattern_markdown(summary: dict[str, Any]) -> str:
    """One markdown table per entry of ``summary``."""
    blocks = []
    for table, rows in summary.items():
        columns = TABLES[table][1]
        lines = [f"**{table}**", "", "| model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
        for label, cells in rows.items():
            counts = {s["n"] for s in cells.values() if s["n"]}
            name = label + (f" (n={counts.pop()})" if len(counts) == 1 else "")
            lines.append("| " + " | ".join([name] + [format_cell(cells[c]) for c in columns]) + " |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_pattern_tables(runs: list[str], out: str | Path) -> dict[str, Any]:
    """Collect ``runs`` and write ``patterns.md`` and ``patterns.json`` under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = pattern_summary(collect(runs))
    (out / "patterns.md").write_text(pattern_markdown(summary))
    write_json_atomic(out / "patterns.json", {"runs": runs, "tables": summary})
    return summary
