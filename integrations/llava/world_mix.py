"""An instruction mix for the tiny LLaVA: the world's conversations plus benchmark-format questions.

LLaVA-1.5's ``llava_v1_5_mix665k.json`` mixes free-form conversations with academic VQA data
in the answer formats of their benchmarks ("Answer the question using a single word or
phrase.", option letters). The world's equivalent: the ``llava_instruct`` conversations plus
one-turn items built from *training-seed* world exports of MMVP, POPE, CV-Bench and
NaturalBench, each asked with its benchmark's default-protocol prompt (``build_prompt``) and
answered with the gold in the form that protocol's parser reads. Evaluation uses other world
seeds, so no scene is shared with the held-out exports.

Rows are LLaVA conversation JSON with image paths relative to the world export root.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from openeyes.artifacts import write_json_atomic
from openeyes.errors import UserError

INSTRUCT_JSON = Path("llava_instruct") / "llava_v1_5_mix665k.json"
PRETRAIN_JSON = Path("llava_pretrain") / "blip_laion_cc_sbu_558k.json"
MIX_BENCHMARKS = ("mmvp", "pope", "cv_bench", "naturalbench")


def mmvp_gold(item: Any) -> str:
    return item.gold_letter  # lmms-eval (default): "A" / "B"


def pope_gold(item: Any) -> str:
    return item.label.capitalize()  # "Yes" / "No"


def cv_bench_gold(item: Any) -> str:
    return item.answer  # cambrian (default): "(A)"


def naturalbench_gold(item: Any) -> str:
    return item.gold  # "Yes" / "No" or "A" / "B" as stored


GOLD_ANSWERS: dict[str, Callable[[Any], str]] = {
    "mmvp": mmvp_gold, "pope": pope_gold, "cv_bench": cv_bench_gold, "naturalbench": naturalbench_gold,
}


def benchmark_rows(world_dir: Path, bench: str) -> list[dict]:
    """One-turn LLaVA rows for every item of ``bench`` in the world export ``world_dir``."""
    from openeyes.eval_mllm.mllm.registry import benchmark

    module = benchmark(bench)
    rows = []
    for item in module.load(world_dir / bench):
        prompt, images, _ = module.build_prompt(item)
        image = Path(images[0]).resolve()
        rows.append({
            "id": f"{bench}-{item.id}",
            "image": os.path.relpath(image, world_dir.resolve()),
            "conversations": [{"from": "human", "value": "<image>\n" + prompt},
                              {"from": "gpt", "value": GOLD_ANSWERS[bench](item)}],
        })
    return rows


def rooted_rows(world_dir: Path, json_path: Path) -> list[dict]:
    """A world LLaVA JSON (``<set>/<file>.json``, images in ``<set>/images/``) with image paths re-rooted at ``world_dir``."""
    from openeyes.datasets.llava import load_llava_json

    path = world_dir / json_path
    if not path.is_file():
        raise UserError(f"{world_dir} has no {json_path}; generate it with --only {json_path.parent}")
    return [{**row, "image": str(json_path.parent / "images" / row["image"])} for row in load_llava_json(path)]


def instruct_rows(world_dir: Path) -> list[dict]:
    """The world's ``llava_instruct`` conversations, images re-rooted at ``world_dir``."""
    return rooted_rows(world_dir, INSTRUCT_JSON)


def caption_rows(world_dir: Path) -> list[dict]:
    """The world's ``llava_pretrain`` caption rows, images re-rooted at ``world_dir``."""
    return rooted_rows(world_dir, PRETRAIN_JSON)


def build_world_mix(world_dir: str | Path, out: str | Path, benchmarks: tuple[str, ...] = MIX_BENCHMARKS,
                    per_benchmark: int | None = None, seed: int = 0, captions: int = 0,
                    bench_counts: dict[str, int] | None = None, conversations: int | None = None) -> dict[str, int]:
    """Write the mix JSON ``out`` (images relative to ``world_dir``); returns row counts per source.

    ``per_benchmark`` keeps at most that many rows of each benchmark (a seeded random subset,
    so that POPE's three splits do not swamp the rest); ``captions`` adds that many caption rows
    of the world's ``llava_pretrain`` set (dense grounding signal, as ShareGPT4V-style SFT mixes
    carry); ``bench_counts`` ({"pope": 48000}) overrides ``per_benchmark`` for the benchmarks it
    names (weighting the mix towards the grounding questions a tiny LM learns slowest);
    ``conversations`` keeps at most that many ``llava_instruct`` rows; the mix is shuffled with ``seed``.
    """
    import random

    world_dir = Path(world_dir)
    if not world_dir.is_dir():
        raise UserError(f"world export {world_dir} not found")
    if per_benchmark is not None and per_benchmark < 1:
        raise UserError(f"per_benchmark must be >= 1, got {per_benchmark}")
    if captions < 0:
        raise UserError(f"captions must be >= 0, got {captions}")
    bench_counts = dict(bench_counts or {})
    unknown = sorted(set(bench_counts) - set(benchmarks))
    if unknown:
        raise UserError(f"bench_counts names {', '.join(unknown)}; the mix's benchmarks are {', '.join(benchmarks)}")
    limits = {**bench_counts, **({"conversations": conversations} if conversations is not None else {})}
    for name, value in limits.items():
        if value < 0:
            raise UserError(f"{name} count must be >= 0, got {value}")
    rng = random.Random(seed)
    rows = instruct_rows(world_dir)
    if conversations is not None and len(rows) > conversations:
        rows = rng.sample(rows, conversations)
    counts = {"llava_instruct": len(rows)}
    if captions:
        pool = caption_rows(world_dir)
        chosen = rng.sample(pool, min(captions, len(pool)))
        counts["llava_pretrain"] = len(chosen)
        rows.extend(chosen)
    for bench in benchmarks:
        if not (world_dir / bench).is_dir():
            raise UserError(f"{world_dir} has no {bench}/ export; generate it with --only {bench}")
        bench_rows = benchmark_rows(world_dir, bench)
        keep = bench_counts.get(bench, per_benchmark)
        if keep is not None and len(bench_rows) > keep:
            bench_rows = rng.sample(bench_rows, keep)
        counts[bench] = len(bench_rows)
        rows.extend(bench_rows)
    rng.shuffle(rows)
    write_json_atomic(Path(out), rows)
    return counts
