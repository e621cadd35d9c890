"""The MLLM benchmark registry and scoring from a predictions file alone.

``BENCHMARKS`` maps a name to its module; every module offers ``load``, ``build_prompt``,
``parse``, ``score``, ``limit_key`` (``--limit``'s strata and units), ``PROTOCOLS`` and
``DEFAULT_PROTOCOL``.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import match_to_items, read_predictions

BENCHMARKS = {
    "mmvp": "openeyes.eval_mllm.mllm.mmvp",
    "pope": "openeyes.eval_mllm.mllm.pope",
    "cv_bench": "openeyes.eval_mllm.mllm.cv_bench",
    "naturalbench": "openeyes.eval_mllm.mllm.naturalbench",
}
ALIASES = {"cv-bench": "cv_bench", "cvbench": "cv_bench"}


def benchmark(name: str) -> ModuleType:
    """The module of benchmark ``name`` (UserError for an unknown one)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BENCHMARKS:
        raise UserError(f"unknown MLLM benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return import_module(BENCHMARKS[key])


def protocol_names(name: str) -> list[str]:
    return list(benchmark(name).PROTOCOLS)


def score_predictions(bench: str, data: str | Path, predictions: str | Path, protocol: str | None = None,
                      split: str | None = None, grader: Any = None, **load_options: Any) -> dict[str, Any]:
    """Load ``bench`` from ``data``, read ``predictions`` and score them under ``protocol``
    (``grader``: MMVP ``original``'s judge, None for its offline stand-in).

    Returns the module's score dict plus provenance: data path, split, protocol source and
    generation settings, load options, and ``missing`` (items without a prediction).
    """
    module = benchmark(bench)
    chosen = module.get_protocol(protocol)         # an unknown protocol fails before any loading
    read = read_predictions(predictions)
    items = module.load(data, split=split, **load_options)
    outputs = match_to_items(read, items)
    scored = module.score(items, outputs, chosen.name, grader=grader)
    scored["missing"] = scored["counts"]["missing"]
    scored["data"] = {"path": str(data), "split": split, "items": len(items)}
    scored["options"] = {"split": split, **{k: v for k, v in load_options.items() if not k.startswith("image_")}}
    scored["source"] = chosen.source
    scored["generation"] = chosen.generation.to_dict()
    scored["predictions_file"] = str(predictions)
    return scored


def as_benchmark_result(scored: dict[str, Any]):
    """The results-artifact record (``eval_mllm.results.BenchmarkResult``) of a score dict."""
    from openeyes.eval_mllm.results import BenchmarkResult

    return BenchmarkResult(
        benchmark=scored["benchmark"], protocol=scored["protocol"], headline=scored["headline"],
        metrics=scored["metrics"], per_category=scored.get("per_category", {}),
        predictions=scored.get("predictions", []),
        data={**scored.get("data", {}), **scored.get("counts", {})},
        options={**scored.get("options", {}), "generation": scored.get("generation"),
                 **({"grader": scored["grader"]} if "grader" in scored else {})},
    )
