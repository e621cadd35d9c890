"""Run encoder benchmarks: a Python API returning dicts, and the CLI's artifact writer.

``evaluate_encoder(encoder, bench, data_dir, **opts)`` scores an already loaded encoder and
returns plain dicts (the zoo README table and the serving UI call it).
``evaluate_to_artifacts(spec, bench, data_dir, out, ...)`` loads the encoder by spec, runs,
and writes one results artifact per benchmark (plus a summary for ``all``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.bench_list import ALL, parse_benches
from openeyes.eval_mllm.encoder.benchmarks import BENCHMARKS
from openeyes.eval_mllm.encoder.context import EvalContext
from openeyes.eval_mllm.encoder.data.discover import find_data
from openeyes.eval_mllm.encoder.options import EncoderEvalOptions, make_options
from openeyes.eval_mllm.results import BenchmarkResult, model_record, write_results, write_summary

BENCH_NAMES = tuple(BENCHMARKS) + (ALL,)


def check_bench(bench: str) -> list[str] | None:
    """The benchmarks ``bench`` names (one, a comma-separated list); None for ``all``."""
    return parse_benches(bench, tuple(BENCHMARKS), "encoder")


def is_several(bench: str) -> bool:
    """Whether ``bench`` asks for more than one benchmark (``all`` or a list): one folder each."""
    names = check_bench(bench)
    return names is None or len(names) > 1


def check_data_dir(data_dir: str | Path) -> Path:
    path = Path(data_dir)
    if not path.exists():
        raise UserError(f"data directory {path} does not exist")
    if not path.is_dir():
        raise UserError(f"data path {path} is not a directory")
    return path


def locate(bench: str, data_dir: Path, split: str) -> Path | None:
    return find_data(BENCHMARKS[bench].data_kind, data_dir, split)


def plan(bench: str, data_dir: str | Path, split: str) -> dict[str, Path]:
    """Benchmark name -> folder holding its data. Named benchmarks need their data; ``all``
    keeps those whose data is present."""
    names = check_bench(bench)
    root = check_data_dir(data_dir)
    if names is not None:
        targets = {}
        for name in names:
            found = locate(name, root, split)
            if found is None:
                kind = BENCHMARKS[name].data_kind
                raise UserError(f"no {kind} data for benchmark {name!r} found in {root} or its sub-folders")
            targets[name] = found
        return targets
    found = {name: locate(name, root, split) for name in BENCHMARKS}
    present = {name: path for name, path in found.items() if path is not None}
    if not present:
        raise UserError(f"no benchmark data found in {root} or its sub-folders")
    return present


def run_benchmarks(encoder, bench: str, data_dir: str | Path, options: EncoderEvalOptions,
                   skipped: dict[str, str] | None = None) -> dict[str, BenchmarkResult]:
    """Run ``bench`` (a list, or every benchmark with data for ``all``); the results by name.

    With a ``skipped`` dict, a benchmark that cannot run on this data (a ``UserError``, e.g. a
    linear probe over a world too small to cross-validate; for ``all`` also one without data)
    is recorded there (name -> reason) and the others still run; without it the first such
    error is raised.
    """
    targets = plan(bench, data_dir, options.split)
    was_training = bool(getattr(encoder, "training", False))
    if hasattr(encoder, "eval"):
        encoder.eval()
    context = EvalContext(encoder=encoder, options=options)
    results = {}
    try:
        for name, path in targets.items():
            try:
                results[name] = BENCHMARKS[name].run(context, path)
            except UserError as problem:
                if skipped is None:
                    raise
                skipped[name] = str(problem)
        if skipped is not None and check_bench(bench) is None:
            for name in BENCHMARKS:
                if name not in targets:
                    skipped[name] = f"no {BENCHMARKS[name].data_kind} data found in {data_dir} or its sub-folders"
        return results
    finally:
        if was_training:  # a caller evaluating mid-training gets its mode back
            encoder.train()


def evaluate_encoder(encoder, bench: str, data_dir: str | Path, **opts: Any) -> dict[str, Any]:
    """Score ``encoder`` on ``bench`` with the data under ``data_dir``.

    Returns the benchmark's result dict (``benchmark, protocol, headline, metrics,
    per_category, predictions, data, options``); for ``bench="all"``, a dict from benchmark
    name to such a dict. ``opts`` are ``EncoderEvalOptions`` fields (batch_size, seed, ...).
    """
    results = run_benchmarks(encoder, bench, data_dir, make_options(**opts))
    if is_several(bench):
        return {name: result.to_dict() for name, result in results.items()}
    return next(iter(results.values())).to_dict()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available")
    return device


def load_encoder_for_eval(spec: str, device: str, engine: str = "torch"):
    """The encoder named by ``spec`` (artifact dir, hub id, zoo name...), moved to ``device``, run by ``engine``
    (``onnx-int8``: the CPU engine, so ``auto`` means the CPU there)."""
    from openeyes.encoders.loading import load_encoder

    if engine != "torch" and device == "auto":
        device = "cpu"
    return load_encoder(spec, device=resolve_device(device), engine=engine)


def evaluate_to_artifacts(
    spec: str,
    bench: str,
    data_dir: str | Path,
    out: str | Path,
    *,
    device: str = "auto",
    encoder=None,
    skipped: dict[str, str] | None = None,
    engine: str = "torch",
    **opts: Any,
) -> dict[str, dict[str, Any]]:
    """Load, run and write results artifacts; returns the results.json payloads by benchmark.

    A single benchmark writes its artifact at ``out``; a list or ``all`` writes
    ``out/<benchmark>/`` for each benchmark that ran, plus ``out/summary.json`` and
    ``out/summary.md``. There a benchmark that cannot run on this data is left out and
    reported (name -> reason in ``skipped`` and in the summary); if none runs, a UserError.
    """
    options = make_options(**opts)
    plan(bench, data_dir, options.split)  # refuse bad input before loading any model
    if encoder is None:
        encoder = load_encoder_for_eval(spec, device, engine)
    model = model_record(spec, getattr(encoder, "name", None))
    if getattr(encoder, "engine", "torch") != "torch":
        model["engine"] = encoder.engine  # int8 numbers are not the fp32 model's
    out = Path(out)
    if not is_several(bench):
        (name, result), = run_benchmarks(encoder, bench, data_dir, options).items()
        return {name: write_results(out, result, model, options.seed)}
    not_run: dict[str, str] = {} if skipped is None else skipped
    results = run_benchmarks(encoder, bench, data_dir, options, skipped=not_run)
    if not results:
        raise UserError("no benchmark could run: " + "; ".join(f"{name}: {why}" for name, why in not_run.items()))
    payloads = {name: write_results(out / name, result, model, options.seed) for name, result in results.items()}
    write_summary(out, payloads, skipped=not_run)
    return payloads
