"""Put several evaluation runs side by side: a markdown table, a JSON summary, bar plots.

Each run is ``LABEL=DIR`` or ``DIR``; DIR is a results artifact or a folder holding several
(``**/results.json``, e.g. what ``openeyes eval encoder --bench all`` writes). Runs that share a
label are repeats (seeds): the table shows mean ± standard deviation (sample std, n - 1) and n.
Without a label, a run is named after its model card (or model name).
"""
from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.artifacts import write_json_atomic
from openeyes.errors import UserError

# Metrics shown by default per benchmark (others: the run's headline metric).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "mmvp_vlm": ("pair_accuracy",),
    "zeroshot": ("acc1",),
    "retrieval": ("image_retrieval_recall@1", "text_retrieval_recall@1", "image_retrieval_recall@5"),
    "clustering": ("nmi", "acc", "ari"),
    "affinity": ("affinity_consistency",),
}


@dataclass
class RunResult:
    label: str  # group name in the table (repeats share it)
    benchmark: str  # results.json "benchmark"
    protocol: str  # results.json "protocol"
    headline: str  # results.json "headline"
    metrics: dict[str, Any]  # results.json "metrics"
    path: Path  # the results artifact


def collect(runs: list[str]) -> list[RunResult]:
    """Read every results artifact named (directly or below) by ``runs``."""
    found: list[RunResult] = []
    for run in runs:
        label, sep, folder = run.partition("=")
        if not sep:
            label, folder = "", run
        root = Path(folder)
        if not root.is_dir():
            raise UserError(f"run folder not found: {root}")
        files = [root / "results.json"] if (root / "results.json").is_file() else sorted(root.rglob("results.json"))
        if not files:
            raise UserError(f"no results.json under {root}")
        for path in files:
            try:
                result = json.loads(path.read_text())
            except json.JSONDecodeError as problem:
                raise UserError(f"{path} is not valid JSON: {problem}")
            model = result.get("model") or {}
            name = label or model.get("card_name") or model.get("name") or root.name
            found.append(RunResult(name, result["benchmark"], result.get("protocol", ""),
                                   result.get("headline", ""), result.get("metrics", {}), path.parent))
    return found


def mean_std(values: list[float]) -> dict[str, Any]:
    """{mean, std (sample, n - 1; 0 for one value), n} of the values that are numbers (None and NaN left out)."""
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not clean:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(clean) if len(clean) > 1 else 0.0
    return {"mean": statistics.fmean(clean), "std": std, "n": len(clean)}


def aggregate(results: list[RunResult], metrics: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """{"labels": [...], "columns": [(bench, metric, protocol)], "cells": {label: {"bench/metric": stats}}}."""
    chosen = metrics or DEFAULT_METRICS
    labels = list(dict.fromkeys(r.label for r in results))
    values: dict[tuple[str, str, str], list] = defaultdict(list)
    columns: dict[tuple[str, str], str] = {}
    for result in results:
        names = chosen.get(result.benchmark) or (result.headline,)
        for metric in names:
            if metric in result.metrics:
                columns.setdefault((result.benchmark, metric), result.protocol)
                values[(result.label, result.benchmark, metric)].append(result.metrics[metric])
    cells = {label: {f"{b}/{m}": mean_std(values.get((label, b, m), [])) for (b, m) in columns} for label in labels}
    return {"labels": labels, "columns": [[b, m, p] for (b, m), p in columns.items()], "cells": cells}


def format_cell(stats: dict[str, Any]) -> str:
    if stats["mean"] is None:
        return "n/a"
    if stats["n"] > 1:
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    return f"{stats['mean']:.3f}"


def markdown_table(summary: dict[str, Any]) -> str:
    headers = ["model"] + [f"{b} {m}" for b, m, _ in summary["columns"]]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for label in summary["labels"]:
        row = summary["cells"][label]
        counts = {s["n"] for s in row.values() if s["n"]}
        name = label + (f" (n={counts.pop()})" if len(counts) == 1 else "")
        lines.append("| " + " | ".join([name] + [format_cell(row[f"{b}/{m}"]) for b, m, _ in summary["columns"]]) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], out: Path) -> list[Path]:
    """One grouped bar chart per benchmark (bars: labels; error bars: std). Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    benchmarks = list(dict.fromkeys(b for b, _, _ in summary["columns"]))
    for bench in benchmarks:
        metrics = [m for b, m, _ in summary["columns"] if b == bench]
        figure, axis = plt.subplots(figsize=(1.6 + 1.2 * len(metrics) * len(summary["labels"]) / 2, 3.2))
        width = 0.8 / max(1, len(summary["labels"]))
        for k, label in enumerate(summary["labels"]):
            stats = [summary["cells"][label][f"{bench}/{m}"] for m in metrics]
            xs = [i + k * width for i in range(len(metrics))]
            axis.bar(xs, [s["mean"] or 0 for s in stats], width, yerr=[s["std"] or 0 for s in stats], label=label, capsize=3)
        axis.set_xticks([i + width * (len(summary["labels"]) - 1) / 2 for i in range(len(metrics))], metrics, fontsize=8)
        axis.set_title(bench)
        axis.legend(fontsize=7)
        figure.tight_layout()
        path = out / f"{bench}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def compare(runs: list[str], out: str | Path, metrics: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Collect, aggregate and write ``comparison.md``, ``comparison.json`` and plots under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = aggregate(collect(runs), metrics)
    summary["runs"] = runs
    table = markdown_table(summary)
    plots = plot(summary, out)
    (out / "comparison.md").write_text(table + "".join(f"\n![{p.stem}]({p.name})\n" for p in plots))
    write_json_atomic(out / "comparison.json", summary)
    return summary
