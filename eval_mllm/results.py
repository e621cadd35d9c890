"""The results artifact: what every evaluation run writes, and how to read it back.

A results artifact is a directory:

- ``results.json`` — schema ``openeyes.results/1``::

      {
        "schema": "openeyes.results/1",
        "benchmark": str,              # e.g. "mmvp_vlm", "zeroshot", "pope"
        "protocol": str,               # which reference procedure the numbers follow
        "model": {"spec": str | null,  # what the user passed (path, hub id, zoo name)
                  "name": str | null,  # the model's own name
                  "card_name": str | null, "card_hash": str | null},  # when the spec is an artifact
        "data": {"path": str, "layout": str, ...counts},
        "seed": int | null,
        "options": {...},              # every option that can change a number
        "headline": str,               # the metric to quote first
        "metrics": {name: float | null},
        "per_category": {category: {name: float | str | null}},
        "created": "YYYY-MM-DDTHH:MM:SSZ",
        "code_version": str            # openeyes version (+ git commit when run from a checkout)
      }

  ``null`` stands for an undefined number (e.g. acc5 with fewer than five classes).
- ``predictions.jsonl`` — one JSON object per scored item (fields depend on the benchmark).
- ``report.md`` — the same numbers as tables, with the plots.
- ``metrics.png`` / ``per_category.png`` — bar plots (when matplotlib is importable).
- ``openeyes.json`` — the artifact card, kind "results".
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from openeyes.artifacts import CARD_NAME, card_fingerprint, read_card, write_card, write_json_atomic
from openeyes.errors import UserError

SCHEMA = "openeyes.results/1"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"
REPORT_FILE = "report.md"
METRICS_PLOT = "metrics.png"
CATEGORY_PLOT = "per_category.png"


@dataclass
class BenchmarkResult:
    """What a benchmark run produced, before it is written anywhere."""

    benchmark: str                                   # registry name of the benchmark
    protocol: str                                    # the reference procedure followed
    headline: str                                    # key of ``metrics`` to quote first
    metrics: dict[str, float]
    per_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)      # path, layout, counts
    options: dict[str, Any] = field(default_factory=dict)   # options that affect the numbers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_safe(value: Any) -> Any:
    """Replace NaN/inf by None (strict JSON), recursively; tuples become lists, paths strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return json_safe(value.item())
    return value


def code_version() -> str:
    """openeyes' version, plus the git commit when running from a checkout."""
    from openeyes import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+g{commit}" if commit else __version__


def model_record(spec: str | None, name: str | None = None) -> dict[str, Any]:
    """Describe the evaluated model; an artifact directory adds its card name and weight hash."""
    record = {"spec": spec, "name": name, "card_name": None, "card_hash": None}
    if spec and (Path(spec) / CARD_NAME).is_file():
        card = read_card(spec, verify=False)
        record["card_name"] = card.get("name")
        record["card_hash"] = card_fingerprint(card)
    return record


def results_payload(result: BenchmarkResult, model: dict[str, Any], seed: int | None) -> dict[str, Any]:
    return json_safe({
        "schema": SCHEMA,
        "benchmark": result.benchmark,
        "protocol": result.protocol,
        "model": model,
        "data": result.data,
        "seed": seed,
        "options": result.options,
        "headline": result.headline,
        "metrics": result.metrics,
        "per_category": result.per_category,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
    })


def format_number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_number(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_report(payload: dict[str, Any], plots: list[str]) -> str:
    """report.md: provenance, metrics table, per-category table, plots."""
    model = payload["model"]
    model_line = f"`{model.get('spec')}`" + (f" ({model['name']})" if model.get("name") else "")
    if model.get("card_hash"):
        model_line += f", card {model.get('card_name')} #{model['card_hash']}"
    data = payload["data"]
    lines = [
        f"# {payload['benchmark']} results",
        "",
        f"- **model**: {model_line}",
        f"- **data**: `{data.get('path')}` ({data.get('layout', 'unknown layout')})",
        f"- **protocol**: {payload['protocol']}",
        f"- **seed**: {payload['seed']}; **options**: `{json.dumps(payload['options'], sort_keys=True)}`",
        f"- **created**: {payload['created']}; **code**: {payload['code_version']}",
        "",
        f"Headline: **{payload['headline']} = {format_number(payload['metrics'].get(payload['headline']))}**",
        "",
        "## Metrics",
        "",
        markdown_table(["metric", "value"], [[k, v] for k, v in payload["metrics"].items()]),
    ]
    per_category = payload["per_category"]
    if per_category:
        columns = list(dict.fromkeys(k for entry in per_category.values() for k in entry))
        rows = [[name] + [entry.get(c) for c in columns] for name, entry in per_category.items()]
        lines += ["", "## Per category", "", markdown_table(["category"] + columns, rows)]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def bar_plot(path: Path, labels: list[str], values: list[float], title: str) -> bool:
    """A horizontal bar chart; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.2))
    shown = [0.0 if v is None else v for v in values]
    axis.barh(range(len(labels)), shown, color="#4C72B0")
    top = max([abs(v) for v in shown] + [0.0])
    axis.set_xlim(min(0.0, min(shown + [0.0]) * 1.25), top * 1.25 if top > 0 else 1.0)
    axis.set_yticks(range(len(labels)), labels=labels)
    axis.invert_yaxis()
    axis.set_title(title)
    for index, value in enumerate(values):
        axis.text(shown[index], index, f" {format_number(value)}", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_plots(directory: Path, payload: dict[str, Any]) -> list[str]:
    written = []
    metrics = {k: v for k, v in payload["metrics"].items() if isinstance(v, (int, float)) or v is None}
    if metrics and bar_plot(directory / METRICS_PLOT, list(metrics), list(metrics.values()),
                            f"{payload['benchmark']}: metrics"):
        written.append(METRICS_PLOT)
    per_category = payload["per_category"]
    numeric_key = next(
        (k for entry in per_category.values() for k, v in entry.items() if isinstance(v, (int, float))), None
    )
    if numeric_key and bar_plot(directory / CATEGORY_PLOT, list(per_category),
                                [entry.get(numeric_key) for entry in per_category.values()],
                                f"{payload['benchmark']}: {numeric_key} per category"):
        written.append(CATEGORY_PLOT)
    return written


def write_results(
    out_dir: str | Path,
    result: BenchmarkResult,
    model: dict[str, Any],
    seed: int | None = None,
) -> dict[str, Any]:
    """Write the whole results artifact to ``out_dir`` and return the results.json payload."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    payload = results_payload(result, model, seed)
    write_json_atomic(directory / RESULTS_FILE, payload)
    with open(directory / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
        for record in result.predictions:
            handle.write(json.dumps(json_safe(record), ensure_ascii=False) + "\n")
    plots = write_plots(directory, payload)
    (directory / REPORT_FILE).write_text(render_report(payload, plots), encoding="utf-8")
    write_card(
        directory, "results", f"{result.benchmark}-{model.get('name') or model.get('spec') or 'model'}",
        base=model.get("spec"), config=payload["options"], data=payload["data"], seed=seed,
        metrics=payload["metrics"],
        extra={"benchmark": result.benchmark, "protocol": result.protocol, "model": payload["model"],
               "headline": result.headline},
    )
    return payload


def read_results(directory: str | Path) -> dict[str, Any]:
    """results.json of a results artifact (checked to be one)."""
    directory = Path(directory)
    read_card(directory, kind="results", verify=False)
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"{directory} is a results artifact without {RESULTS_FILE}")
    payload = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("schema") != SCHEMA:
        raise UserError(f"{path}: unknown schema {payload.get('schema')!r} (expected {SCHEMA})")
    return payload


def write_summary(out_dir: str | Path, payloads: dict[str, dict[str, Any]],
                  skipped: dict[str, str] | None = None) -> Path:
    """summary.json + summary.md over several results artifacts (one per benchmark); benchmarks
    that could not run appear with their reason (``skipped``: name -> reason)."""
    directory = Path(out_dir)
    summary: dict[str, dict[str, Any]] = {
        name: {"headline": p["headline"], "value": p["metrics"].get(p["headline"]),
               "metrics": p["metrics"], "artifact": name}
        for name, p in payloads.items()
    }
    for name, reason in (skipped or {}).items():
        summary[name] = {"headline": None, "value": None, "skipped": reason}
    write_json_atomic(directory / "summary.json", json_safe(summary))
    rows = [[name, s["headline"] or "not run", s["value"] if "skipped" not in s else s["skipped"]]
            for name, s in summary.items()]
    text = "# Summary\n\n" + markdown_table(["benchmark", "headline", "value"], rows) + "\n"
    (directory / "summary.md").write_text(text, encoding="utf-8")
    return directory / "summary.json"
