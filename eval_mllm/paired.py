"""Paired differences to a reference run on the same data: does a change stand outside seed noise?

``openeyes eval compare ... --paired-to base`` adds ``paired.md`` and ``paired.json``. Every run of a label
other than the reference is matched with the reference label's run of the same benchmark on the same
data (results.json ``data.path``; several reference runs there count as their mean), and their
difference is taken on each headline metric of the comparison table and each column of the
per-pattern tables (``pattern_table.TABLES``). The reference's own variation over data (one world is
harder than another) cancels in the difference.

The unit of repetition is the trained model (results.json ``model.spec``: one training seed): a
model's differences are first averaged over the data it was paired on, then the cell gives the mean
over models, their sample standard deviation and a 95 % Student-t interval of the mean (n models,
n - 1 degrees of freedom). The interval is what "outside seed noise" means here: it excludes 0 only
when every seed moves the same way by more than the seeds disagree. One model gives a mean only.
"""
from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from openeyes.artifacts import write_json_atomic
from openeyes.errors import UserError
from openeyes.eval_mllm.compare import DEFAULT_METRICS, RunResult, collect
from openeyes.eval_mllm.pattern_table import TABLES

HEADLINE = "headline metrics"  # the table of the comparison's headline metrics (columns "benchmark metric")
Key = tuple[str, str]  # (table, column)


def run_values(result: RunResult, raw: dict[str, Any]) -> dict[Key, float]:
    """Every number of one run that a paired table can hold: {(table, column): value}."""
    values: dict[Key, float] = {}
    for metric in DEFAULT_METRICS.get(result.benchmark) or (result.headline,):
        value = result.metrics.get(metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            values[(HEADLINE, f"{result.benchmark} {metric}")] = float(value)
    for table, (benchmark, _, read) in TABLES.items():
        if benchmark == result.benchmark:
            values.update({(table, column): float(v) for column, v in read(raw, result.path).items() if v is not None})
    return values


def _data_key(raw: dict[str, Any]) -> str:
    return os.path.normpath(str((raw.get("data") or {}).get("path", "")))


def _model_key(raw: dict[str, Any], result: RunResult) -> str:
    model = raw.get("model") or {}
    return str(model.get("spec") or model.get("name") or result.path.parent)


def interval(model_means: list[float]) -> dict[str, Any]:
    """{mean, std, n, low, high}: mean over models, sample std, 95 % Student-t interval (None below 2 models)."""
    n = len(model_means)
    mean = statistics.fmean(model_means)
    if n < 2:
        return {"mean": mean, "std": None, "n": n, "low": None, "high": None}
    from scipy.stats import t

    std = statistics.stdev(model_means)
    half = float(t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "low": mean - half, "high": mean + half}


def _mean_values(runs: list[dict[Key, float]]) -> dict[Key, float]:
    """The reference's value on one datum: the mean over its runs there (e.g. several projector seeds)."""
    keys = list(dict.fromkeys(k for values in runs for k in values))
    return {k: statistics.fmean(values[k] for values in runs if k in values) for k in keys}


def paired_summary(results: list[RunResult], reference: str) -> dict[str, Any]:
    """{"reference", "tables": {table: {"columns", "rows": {label: {column: interval}}}}, "unpaired": {label: runs}}."""
    raws = {id(r): json.loads((r.path / "results.json").read_text()) for r in results}
    reference_runs: dict[tuple[str, str], list[dict[Key, float]]] = defaultdict(list)
    for r in results:
        if r.label == reference:
            reference_runs[(r.benchmark, _data_key(raws[id(r)]))].append(run_values(r, raws[id(r)]))
    references = {where: _mean_values(runs) for where, runs in reference_runs.items()}
    # label -> (table, column) -> model -> [difference per datum]
    differences: dict[str, dict[Key, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    unpaired: dict[str, int] = defaultdict(int)
    columns: dict[str, list[str]] = defaultdict(list)
    for result in results:
        if result.label == reference:
            continue
        raw = raws[id(result)]
        theirs = references.get((result.benchmark, _data_key(raw)))
        if theirs is None:
            unpaired[result.label] += 1
            continue
        own = run_values(result, raw)
        for key in [k for k in own if k in theirs]:  # own order: the columns come out as the tables list them
            differences[result.label][key][_model_key(raw, result)].append(own[key] - theirs[key])
            if key[1] not in columns[key[0]]:
                columns[key[0]].append(key[1])
    tables: dict[str, Any] = {}
    for table in [HEADLINE, *TABLES]:
        if table not in columns:
            continue
        order = list(TABLES[table][1]) if table in TABLES else columns[table]
        shown = [c for c in order if c in columns[table]]
        rows = {label: {c: interval([statistics.fmean(d) for d in by_model[(table, c)].values()])
                        for c in shown if (table, c) in by_model}
                for label, by_model in differences.items()}
        tables[table] = {"columns": shown, "rows": {label: row for label, row in rows.items() if row}}
    return {"reference": reference, "tables": tables, "unpaired": dict(unpaired)}


def format_difference(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "n/a"
    if cell["low"] is None:
        return f"{cell['mean']:+.3f}"
    return f"{cell['mean']:+.3f} ± {cell['std']:.3f} [{cell['low']:+.3f}, {cell['high']:+.3f}]"


def paired_markdown(summary: dict[str, Any]) -> str:
    """One markdown table per paired table: label (n models) x column, 'mean ± std [95 % interval]'."""
    blocks = [f"Differences to `{summary['reference']}` on the same data: mean over trained models ± their std "
              "[95 % Student-t interval of the mean].\n"]
    for table, content in summary["tables"].items():
        lines = [f"**{table}**", "", "| model | " + " | ".join(content["columns"]) + " |",
                 "|" + "---|" * (len(content["columns"]) + 1)]
        for label, row in content["rows"].items():
            counts = {cell["n"] for cell in row.values()}
            name = label + (f" (n={counts.pop()})" if len(counts) == 1 else "")
            lines.append("| " + " | ".join([name] + [format_difference(row.get(c)) for c in content["columns"]]) + " |")
        blocks.append("\n".join(lines) + "\n")
    if summary["unpaired"]:
        blocks.append("Runs without a reference run on their data (left out): "
                      + ", ".join(f"{label} {count}" for label, count in summary["unpaired"].items()) + "\n")
    return "\n".join(blocks)


def require_reference(results: list[RunResult], reference: str) -> None:
    """A clear error when no run carries the reference label (a typo would otherwise give empty tables)."""
    if not any(r.label == reference for r in results):
        raise UserError(f"--paired-to {reference}: no run has that label (labels: "
                        f"{', '.join(dict.fromkeys(r.label for r in results))})")


def paired_tables(runs: list[str], reference: str) -> dict[str, Any]:
    """Collect ``runs`` and pair them to ``reference`` (a clear error first when no run has that label)."""
    results = collect(runs)
    require_reference(results, reference)
    return {"runs": runs, **paired_summary(results, reference)}


def write_paired_tables(runs: list[str], reference: str, out: str | Path,
                        summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``paired.md`` and ``paired.json`` under ``out`` (``summary``: ``paired_tables``' result, made when None)."""
    summary = summary or paired_tables(runs, reference)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "paired.md").write_text(paired_markdown(summary))
    write_json_atomic(out / "paired.json", summary)
    return summary
