"""Run MLLM benchmarks end to end: prompts -> generation -> predictions.jsonl -> score -> results artifact.

``evaluate_mllm(spec, bench, data, out, options)`` is what ``openeyes eval mllm`` runs:

- the model is any ``MLLM`` (``eval_mllm.mllm.backends``: a local transformers directory,
  artifact or ``zoo:NAME``; or an ``http(s)://`` OpenAI-compatible endpoint);
- prompts and decoding come from the benchmark's protocol (``--max-new-tokens`` may cap it);
- generations are appended to ``<out>/predictions.jsonl`` batch by batch (flush + fsync), so a
  crashed run resumes: items whose id is already there are skipped;
- under ``python -m openeyes.trainer.launch --multi_gpu --num_processes N ... -m
  openeyes.eval_mllm.runner ARGS`` every rank generates a strided shard of the pending items
  into its own part file; rank 0 merges, scores with the benchmark's scorer and writes the
  results artifact (results.json, predictions.jsonl, report.md, plots, card).
``bench="all"`` runs every benchmark found under a world-export root into ``<out>/<bench>/``
and writes ``<out>/summary.{json,md}``.

``python -m openeyes.eval_mllm.runner`` takes the same arguments as ``openeyes eval mllm``.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.prediction_log import MAIN_FILE, append_records, consolidate, part_path, read_log
from openeyes.eval_mllm.mllm.predictions import id_key
from openeyes.eval_mllm.mllm.processes import Processes, join_processes
from openeyes.eval_mllm.bench_list import parse_benches
from openeyes.eval_mllm.mllm.registry import ALIASES, BENCHMARKS, as_benchmark_result, benchmark
from openeyes.eval_mllm.mllm.sampling import spread

FOLDER_ALIASES = {"cv_bench": ("cv_bench", "cv-bench", "CV-Bench"), "mmvp": ("mmvp", "MMVP"),
                  "pope": ("pope", "POPE"), "naturalbench": ("naturalbench", "NaturalBench")}


@dataclass
class MLLMEvalOptions:
    """Everything besides model, benchmark, data and output that can change a number."""

    protocol: str | None = None          # reference protocol (None: the benchmark's default)
    split: str | None = None             # POPE random|popular|adversarial|all; CV-Bench 2D|3D|all
    limit: int | None = None             # about N items per benchmark: whole pairs/groups over every split/source (sampling.spread)
    batch_size: int = 8                  # requests per generate call (HTTP: requests in flight)
    max_new_tokens: int | None = None    # cap on the protocol's generation budget
    seed: int = 0                        # seeds sampling protocols (MMVP original)
    swap_gold: bool = False              # MMVP: the lmms-eval copy's 99<->100 / 279<->280 gold swap
    progress: bool = True                # show a tqdm progress bar
    grader: Any = None                   # MMVP original: grader.GraderConfig of an LLM judge (None: exact-match stand-in)

    def check(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be >= 1, got {self.limit}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")


# ---- what to run ---------------------------------------------------------------------------

def bench_folder(name: str, root: Path) -> Path | None:
    """``root/<name>`` (or a spelling of it) when present, else None."""
    for folder in FOLDER_ALIASES.get(name, (name,)):
        if (root / folder).exists():
            return root / folder
    return None


def bench_names(bench: str) -> list[str] | None:
    """The MLLM benchmarks ``bench`` names (one, a comma-separated list); None for ``all``."""
    return parse_benches(bench, tuple(BENCHMARKS), "MLLM", lambda name: ALIASES.get(name.lower(), name.lower()))


def is_several(bench: str) -> bool:
    """Whether ``bench`` asks for more than one benchmark (``all`` or a list): one folder each."""
    names = bench_names(bench)
    return names is None or len(names) > 1


def plan(bench: str, data: str | Path) -> dict[str, Path]:
    """Benchmark name -> its data. One benchmark: ``data/<bench>`` if there, else ``data`` itself;
    a list: ``data/<bench>`` for each; ``all``: every benchmark with a folder under ``data``."""
    root = Path(data)
    if not root.exists():
        raise UserError(f"data {root} does not exist")
    names = bench_names(bench)
    if names is not None and len(names) == 1:
        name = names[0]
        return {name: bench_folder(name, root) if root.is_dir() and bench_folder(name, root) else root}
    if names is not None:
        missing = [name for name in names if not root.is_dir() or bench_folder(name, root) is None]
        if missing:
            raise UserError(f"no {', '.join(missing)} folder under {root} (a list of benchmarks reads <data>/<bench>/)")
        return {name: bench_folder(name, root) for name in names}
    found = {name: bench_folder(name, root) for name in BENCHMARKS}
    present = {name: path for name, path in found.items() if path is not None}
    if not present:
        raise UserError(f"no benchmark folder ({', '.join(BENCHMARKS)}) found under {root}")
    return present


# ---- generation ----------------------------------------------------------------------------

def sampling_for(protocol: Any, options: MLLMEvalOptions) -> dict[str, Any]:
    """The protocol's decoding as ``MLLM.generate`` keyword arguments."""
    settings = protocol.generation
    budget = settings.max_new_tokens if options.max_new_tokens is None else min(settings.max_new_tokens, options.max_new_tokens)
    sampled = settings.do_sample and (settings.temperature or 0) > 0
    return {"max_new_tokens": budget, "temperature": float(settings.temperature) if sampled else 0.0,
            "top_p": float(settings.top_p or 1.0) if sampled else 1.0, "seed": options.seed if sampled else None}


def open_images(paths: Sequence[Any]) -> list[Any]:
    from PIL import Image

    images = []
    for path in paths:
        with Image.open(path) as opened:
            images.append(opened.convert("RGB"))
    return images


def build_requests(module: Any, items: Sequence[Any], protocol: str) -> list[tuple[list[Any], str]]:
    """(images, prompt) per item, prompts exactly as the protocol writes them."""
    requests = []
    for item in items:
        text, image_paths, _ = module.build_prompt(item, protocol)
        requests.append((open_images(image_paths), text))
    return requests


def _generate(mllm: Any, requests: list, sampling: dict[str, Any], batch_size: int) -> list[str]:
    if "batch_size" in inspect.signature(mllm.generate).parameters:
        return mllm.generate(requests, batch_size=batch_size, **sampling)
    return mllm.generate(requests, **sampling)


def generate_into(mllm: Any, module: Any, items: Sequence[Any], protocol: str, target: Path,
                  options: MLLMEvalOptions, label: str, position: int = 0) -> int:
    """Generate ``items`` batch by batch, appending ``{"id", "output"}`` lines to ``target``."""
    from tqdm.auto import tqdm

    sampling = sampling_for(module.get_protocol(protocol), options)
    bar = tqdm(total=len(items), desc=label, unit="item", disable=not options.progress, position=position,
               leave=position == 0, dynamic_ncols=True)
    try:
        for start in range(0, len(items), options.batch_size):
            batch = items[start:start + options.batch_size]
            outputs = _generate(mllm, build_requests(module, batch, protocol), sampling, options.batch_size)
            if len(outputs) != len(batch):
                raise UserError(f"the model returned {len(outputs)} outputs for {len(batch)} requests")
            append_records(target, ({"id": item.id, "output": text} for item, text in zip(batch, outputs)))
            bar.update(len(batch))
    finally:
        bar.close()
    return len(items)


# ---- one benchmark -------------------------------------------------------------------------

def load_items(module: Any, data: Path, options: MLLMEvalOptions) -> list[Any]:
    load_options = {"swap_gold": options.swap_gold} if module.NAME == "mmvp" else {}
    items = module.load(data, split=options.split, **load_options)
    return spread(items, options.limit, module.limit_key) if options.limit else items


def artifact_predictions(scored: list[dict[str, Any]], extra: dict[str, str]) -> list[dict[str, Any]]:
    """The results artifact's predictions.jsonl: the scored records (``eval score`` reads them back
    as they are), then generated outputs outside this run's items (kept for later runs)."""
    return list(scored) + [{"id": key, "output": text} for key, text in extra.items()]


def score_items(module: Any, items: list, outputs: dict, protocol: str, options: MLLMEvalOptions, out: Path) -> dict:
    """The benchmark's scores; MMVP ``original`` graded by ``options.grader``'s judge when given
    (its judgments cached in ``out``)."""
    from openeyes.eval_mllm.mllm.grader import CACHE_FILE, build_grader

    grader = build_grader(options.grader, out / CACHE_FILE) if module.NAME == "mmvp" else None
    try:
        return module.score(items, outputs, protocol, grader=grader)
    finally:
        if grader is not None:
            grader.close()


def run_benchmark(mllm: Any, name: str, data: Path, out: Path, options: MLLMEvalOptions, processes: Processes,
                  model: dict[str, Any]) -> dict[str, Any] | None:
    """Generate what is missing, then (rank 0) score and write the artifact; its payload on rank 0."""
    from openeyes.eval_mllm.results import write_results

    module = benchmark(name)
    protocol = module.get_protocol(options.protocol).name
    items = load_items(module, data, options)
    out.mkdir(parents=True, exist_ok=True)
    if processes.is_main:
        consolidate(out)  # parts left by an interrupted multi-process run; torn last lines cut
    processes.barrier()
    done = read_log(out / MAIN_FILE)
    pending = [item for item in items if id_key(item.id) not in done]
    target = out / MAIN_FILE if processes.world_size == 1 else part_path(out, processes.rank)
    label = name if processes.world_size == 1 else f"{name} [rank {processes.rank}]"
    generate_into(mllm, module, processes.shard(pending), protocol, target, options, label, processes.rank)
    processes.barrier()
    payload = None
    if processes.is_main:
        outputs = consolidate(out)
        wanted = {id_key(item.id) for item in items}
        scored = score_items(module, items, {k: v for k, v in outputs.items() if k in wanted}, protocol, options, out)
        scored["data"] = {"path": str(data), "split": options.split, "items": len(items),
                          "generated_now": len(pending)}
        scored["options"] = {"split": options.split, "limit": options.limit, "max_new_tokens": options.max_new_tokens,
                             "runner": "openeyes eval mllm", "processes": processes.world_size,
                             **({"swap_gold": options.swap_gold} if module.NAME == "mmvp" else {})}
        scored["generation"] = {**module.get_protocol(protocol).generation.to_dict(),
                                "used": sampling_for(module.get_protocol(protocol), options)}
        result = as_benchmark_result(scored)
        result.predictions = artifact_predictions(scored["predictions"],
                                                  {k: v for k, v in outputs.items() if k not in wanted})
        payload = write_results(out, result, model, seed=options.seed)
    processes.barrier()
    return payload


# ---- the whole run -------------------------------------------------------------------------

def check_grader(config: Any, benches: Any, protocol: str | None) -> None:
    """A judge is only for MMVP's ``original`` protocol: refuse it elsewhere before any work."""
    if config is None:
        return
    config.check()
    if "mmvp" not in benches or benchmark("mmvp").get_protocol(protocol).name != "original":
        raise UserError("--grader judges MMVP's original protocol only: use --bench mmvp --protocol original")


def evaluate_mllm(spec: str, bench: str, data: str | Path, out: str | Path, options: MLLMEvalOptions | None = None,
                  *, mllm: Any = None, device: str = "auto", model_name: str | None = None,
                  api_key: str | None = None) -> dict[str, dict[str, Any]]:
    """Run ``bench`` (or ``all``) and write results artifacts; payloads by benchmark (rank 0; {} elsewhere).

    One benchmark writes its artifact at ``out``; ``all`` writes ``out/<bench>/`` per benchmark
    plus ``out/summary.{json,md}``. ``mllm`` skips loading (any object with ``generate``).
    """
    from openeyes.eval_mllm.mllm.backends import load_mllm_for_eval
    from openeyes.eval_mllm.results import model_record, write_summary

    options = options or MLLMEvalOptions()
    options.check()
    targets = plan(bench, data)
    for name in targets:
        benchmark(name).get_protocol(options.protocol)  # an unknown protocol fails before loading
    check_grader(options.grader, targets, options.protocol)
    processes = join_processes()
    try:
        if mllm is None:
            mllm = load_mllm_for_eval(spec, batch_size=options.batch_size, device=device,
                                      local_rank=processes.local_rank, model_name=model_name, api_key=api_key)
        model = model_record(None if spec is None else str(spec), getattr(mllm, "name", None))
        out = Path(out)
        payloads = {}
        for name, folder in targets.items():
            destination = out / name if is_several(bench) else out
            payload = run_benchmark(mllm, name, folder, destination, options, processes, model)
            if payload is not None:
                payloads[name] = payload
        if is_several(bench) and processes.is_main:
            write_summary(out, payloads)
        return payloads
    finally:
        processes.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m openeyes.eval_mllm.runner ARGS`` == ``openeyes eval mllm ARGS`` (exit code)."""
    from openeyes.cli import main as cli_main

    return cli_main(["eval", "mllm", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
