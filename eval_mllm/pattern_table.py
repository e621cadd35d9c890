"""Per-pattern tables of the MMVP-style encoder benchmarks, mean ± std over repeats.

``openeyes eval compare --by-pattern`` adds them beside the headline table: one row per run label
(repeats share a label, as in ``compare``) and one column per MMVP pattern, for
- MMVP-VLM: the pair accuracy (percent) of each of the nine categories;
- the attribute probe: the test accuracy of each pattern's linear probe on pooled features and on
  patch tokens.
A fine-perception gain shows here before it moves a mean over nine patterns.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from openeyes.artifacts import write_json_atomic
from openeyes.eval_mllm.compare import RunResult, mean_std, collect, format_cell
from openeyes.eval_mllm.encoder.scoring.attribute_probe import metric_key
from openeyes.eval_mllm.encoder.scoring.mmvp_vlm import TYPE_TO_CATEGORY

PATTERNS = tuple(TYPE_TO_CATEGORY)  # the nine MMVP-VLM Types, in the reference's row order
TABLES = {  # table name -> (benchmark, how to read one pattern's value from a results.json)
    "MMVP-VLM pair accuracy (%)": ("mmvp_vlm", lambda r, p: ((r.get("per_category") or {}).get(TYPE_TO_CATEGORY[p]) or {}).get("accuracy")),
    "attribute probe, pooled features": ("attribute_probe", lambda r, p: r["metrics"].get(metric_key("pooled", p))),
    "attribute probe, patch tokens": ("attribute_probe", lambda r, p: r["metrics"].get(metric_key("patches", p))),
}


def pattern_values(results: list[RunResult]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{table: {label: {pattern: [value per repeat]}}} for the tables the runs have data for."""
    values: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for result in results:
        raw = json.loads((result.path / "results.json").read_text())
        for table, (benchmark, read) in TABLES.items():
            if result.benchmark != benchmark:
                continue
            for pattern in PATTERNS:
                value = read(raw, pattern)
                if value is not None:
                    values[table][result.label][pattern].append(float(value))
    return values


def pattern_summary(results: list[RunResult]) -> dict[str, Any]:
    """{table: {label: {pattern: {mean, std, n}}}}; labels in the order the runs name them."""
    labels = list(dict.fromkeys(r.label for r in results))
    values = pattern_values(results)
    return {table: {label: {p: mean_std(values[table][label][p]) for p in PATTERNS} for label in labels
                    if label in values[table]}
            for table in TABLES if table in values}


def pattern_markdown(summary: dict[str, Any]) -> str:
    """One markdown table per entry of ``summary``."""
    blocks = []
    for table, rows in summary.items():
        lines = [f"**{table}**", "", "| model | " + " | ".join(PATTERNS) + " |", "|" + "---|" * (len(PATTERNS) + 1)]
        for label, cells in rows.items():
            counts = {s["n"] for s in cells.values() if s["n"]}
            name = label + (f" (n={counts.pop()})" if len(counts) == 1 else "")
            lines.append("| " + " | ".join([name] + [format_cell(cells[p]) for p in PATTERNS]) + " |")
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
