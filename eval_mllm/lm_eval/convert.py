"""Benchmark data in its real layout -> the flat JSONL the ``openeyes_*`` lm-eval tasks read.

One line per item, in the benchmark's own order; with ``limit`` only the items ``openeyes eval
mllm --limit N`` takes (``sampling.spread``: every split/source, whole pairs/groups)::

    {"id": "random:1", "prompt": "<protocol prompt>", "image": ["/abs/path.jpg"], "gold": "yes",
     "bench": "pope", "protocol": "pope", "data": "/abs/data", "split": "", "swap_gold": false,
     "metrics": ["accuracy", ...]}

``bench``/``data``/``split``/``swap_gold`` let ``task_utils`` reload the items and score with the
benchmark's own scorer; ``metrics`` are the metric names that scorer reports under the protocol.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openeyes.eval_mllm.mllm.predictions import id_key
from openeyes.eval_mllm.mllm.registry import benchmark
from openeyes.eval_mllm.mllm.sampling import spread

GOLD_FIELDS = {"mmvp": "answer", "pope": "label", "cv_bench": "answer", "naturalbench": "gold"}


def load_options(name: str, swap_gold: bool) -> dict[str, Any]:
    return {"swap_gold": swap_gold} if name == "mmvp" else {}


def metric_names(module: Any, items: list[Any], protocol: str) -> list[str]:
    """The metric names ``module.score`` reports under ``protocol``."""
    return list(module.score(items, {}, protocol)["metrics"])


def convert_benchmark(bench: str, data: str | Path, out_dir: str | Path, *, protocol: str | None = None,
                      split: str | None = None, swap_gold: bool = False, limit: int | None = None) -> Path:
    """Write ``<out_dir>/<bench>.jsonl`` for ``bench`` loaded from ``data`` (``limit``: the
    ``--limit`` selection only); its path."""
    module = benchmark(bench)
    chosen = module.get_protocol(protocol).name
    data = Path(data).resolve()
    items = module.load(data, split=split, **load_options(module.NAME, swap_gold))
    metrics = metric_names(module, items, chosen)
    if limit:
        items = spread(items, limit, module.limit_key)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{module.NAME}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for item in items:
            text, images, _ = module.build_prompt(item, chosen)
            record = {"id": id_key(item.id), "prompt": text, "image": [str(Path(p).resolve()) for p in images],
                      "gold": str(getattr(item, GOLD_FIELDS[module.NAME])), "bench": module.NAME, "protocol": chosen,
                      "data": str(data), "split": split or "", "swap_gold": bool(swap_gold), "metrics": metrics}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
