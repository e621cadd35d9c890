"""The functions the ``openeyes_*`` task YAMLs name (``!function``): images, per-doc results, aggregation.

Per document, ``process_results`` keeps ``(metric, id, raw output, where the data is)`` for every
metric; ``aggregate`` then reloads the benchmark's items (cached), and scores all outputs at once
with the benchmark's own ``score`` (pairs, groups and splits need every answer together), so
lm-eval reports exactly what ``openeyes eval mllm`` reports. An undefined number is NaN.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from openeyes.eval_mllm.mllm.predictions import id_key
from openeyes.eval_mllm.mllm.registry import benchmark

_last_scores: dict[tuple, dict[str, Any]] = {}


def doc_to_image(doc: dict[str, Any]) -> list[Any]:
    """The document's images as RGB PIL images (the ``visual`` argument of each request)."""
    from PIL import Image

    images = []
    for path in doc["image"] if isinstance(doc["image"], list) else [doc["image"]]:
        with Image.open(path) as opened:
            images.append(opened.convert("RGB"))
    return images


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """One record per metric: what ``aggregate`` needs to score this document with the others."""
    output = results[0] if results else ""
    source = {key: doc[key] for key in ("bench", "protocol", "data", "split", "swap_gold")}
    return {metric: {"metric": metric, "id": doc["id"], "output": output, **source} for metric in doc["metrics"]}


@lru_cache(maxsize=8)
def _items(bench: str, data: str, split: str, swap_gold: bool) -> tuple:
    module = benchmark(bench)
    options = {"swap_gold": swap_gold} if module.NAME == "mmvp" else {}
    return tuple(module.load(data, split=split or None, **options))


def score_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The benchmark's metrics over the documents in ``records`` (one record per document)."""
    first = records[0]
    outputs = {id_key(r["id"]): r["output"] for r in records}
    key = (first["bench"], first["protocol"], first["data"], first["split"], first["swap_gold"],
           tuple(sorted(outputs.items())))
    if key not in _last_scores:
        _last_scores.clear()  # one task's metrics are aggregated one after the other
        items = [item for item in _items(first["bench"], first["data"], first["split"], bool(first["swap_gold"]))
                 if id_key(item.id) in outputs]
        _last_scores[key] = benchmark(first["bench"]).score(items, outputs, first["protocol"])["metrics"]
    return _last_scores[key]


def aggregate(records: list[dict[str, Any]]) -> float:
    """lm-eval aggregation of one metric: the benchmark scorer's value (NaN when undefined)."""
    if not records:
        return math.nan
    value = score_records(records).get(records[0]["metric"])
    return math.nan if value is None else float(value)
