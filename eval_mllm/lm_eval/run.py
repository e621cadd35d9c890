"""``openeyes eval lm-eval``: convert the data, load the ``openeyes_*`` tasks, run ``lm_eval.simple_evaluate``.

Offline throughout: the tasks come from this package's YAMLs through
``TaskManager(include_path=<package folder>, include_defaults=False)`` (the 14,000 built-in
tasks are never indexed), their data are JSONL files converted into a temporary folder, and
``datasets`` reads them with its packaged ``json`` builder (cache in the same temporary folder).

Writes ``<out>/lm_eval_results.json`` (lm-eval's results, versions, sample counts and this
run's settings) and, per task, a results artifact ``<out>/<bench>/`` (``eval_mllm.results``)
whose predictions are lm-eval's logged samples.
"""
from __future__ import annotations

import contextlib

import copy
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError

TASKS = {"openeyes_mmvp": "mmvp", "openeyes_pope": "pope", "openeyes_cv_bench": "cv_bench",
         "openeyes_naturalbench": "naturalbench"}
TASK_FOLDER = Path(__file__).parent
RESULTS_FILE = "lm_eval_results.json"


@dataclass
class LMEvalOptions:
    limit: int | None = None             # about N documents per task, chosen as `eval mllm --limit N` does
    protocol: str | None = None          # reference protocol (None: each benchmark's default)
    split: str | None = None             # POPE / CV-Bench split
    batch_size: int = 8                  # requests per generate call
    max_new_tokens: int | None = None    # cap on the protocol's budget
    device: str = "auto"                 # local model device
    model_name: str | None = None        # HTTP endpoint: served model name
    api_key: str | None = None           # HTTP endpoint: bearer token
    swap_gold: bool = False              # MMVP lmms-eval copy's gold swap
    seed: int = 0                        # lm-eval's random / numpy / torch seeds


def check_tasks(tasks: list[str]) -> list[str]:
    if tasks == ["all"]:
        return list(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise UserError(f"unknown lm-eval task(s) {', '.join(unknown) or '(none)'}; choose from: {', '.join(TASKS)}, all")
    return list(dict.fromkeys(tasks))


def task_manager():
    """lm-eval's TaskManager over this package's YAMLs only."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASK_FOLDER), include_defaults=False)


def task_config(manager: Any, task: str, data_file: Path, cache_dir: Path, protocol: Any, metrics: list[str],
                options: LMEvalOptions) -> dict[str, Any]:
    """The task's YAML (functions resolved) with this run's data file, decoding and metric names."""
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = manager.task_index.get(task)
    if entry is None or entry.yaml_path is None:
        raise UserError(f"task {task} is not among the YAMLs in {TASK_FOLDER}")
    config = copy.deepcopy(load_yaml(entry.yaml_path, resolve_func=True))
    config["dataset_kwargs"] = {"data_files": {"test": str(data_file)}, "cache_dir": str(cache_dir)}
    settings = protocol.generation
    budget = settings.max_new_tokens if options.max_new_tokens is None else min(settings.max_new_tokens, options.max_new_tokens)
    generation = {"until": [], "max_gen_toks": budget, "do_sample": bool(settings.do_sample),
                  "temperature": float(settings.temperature or 0.0) if settings.do_sample else 0.0}
    if settings.do_sample and settings.top_p is not None:
        generation["top_p"] = float(settings.top_p)
    config["generation_kwargs"] = generation
    aggregate = config["metric_list"][0]["aggregation"]
    config["metric_list"] = [{"metric": m, "aggregation": aggregate, "higher_is_better": True} for m in metrics]
    return config


def _metrics_of(task_results: dict[str, Any], wanted: list[str]) -> dict[str, float | None]:
    """lm-eval's ``{"accuracy,none": v, "accuracy_stderr,none": ..., "alias": ...}`` -> ``{"accuracy": v}``
    for the ``wanted`` metric names (lm-eval's own ``sample_len`` and stderrs are left out)."""
    metrics = {}
    for key, value in task_results.items():
        name, _, _filter = key.partition(",")
        if name not in wanted or not isinstance(value, (int, float)):
            continue
        metrics[name] = None if isinstance(value, float) and math.isnan(value) else float(value)
    return metrics


def _sample_predictions(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = []
    for sample in samples:
        responses = sample.get("filtered_resps") or sample.get("resps") or [""]
        first = responses[0]
        output = first[0] if isinstance(first, (list, tuple)) else first
        records.append({"id": sample["doc"]["id"], "output": output, "doc_id": sample.get("doc_id")})
    return records


@contextlib.contextmanager
def quiet_git_hash():
    """lm-eval records ``git describe`` of the working directory and lets git print "fatal: not a git
    repository" outside a checkout; record openeyes' own version (and commit) instead, silently."""
    import lm_eval.evaluator as evaluator

    from openeyes.eval_mllm.results import code_version

    original = evaluator.get_git_commit_hash
    evaluator.get_git_commit_hash = code_version
    try:
        yield
    finally:
        evaluator.get_git_commit_hash = original


def run_lm_eval(spec: str, tasks: list[str], data: str | Path, out: str | Path, options: LMEvalOptions | None = None,
                *, mllm: Any = None) -> dict[str, dict[str, float | None]]:
    """Evaluate through lm-eval; metrics by task (also written to ``out``)."""
    try:
        import lm_eval
        from lm_eval import simple_evaluate
    except ImportError:
        raise UserError("lm-eval is not installed: pip install 'openeyes[eval]' (lm_eval==0.4.13)") from None
    from openeyes.eval_mllm.lm_eval.convert import convert_benchmark, load_options, metric_names
    from openeyes.eval_mllm.lm_eval.model import OpenEyesLM
    from openeyes.eval_mllm.mllm.registry import benchmark
    from openeyes.eval_mllm.results import BenchmarkResult, json_safe, model_record, write_results
    from openeyes.eval_mllm.runner import plan
    from openeyes.artifacts import write_json_atomic

    options = options or LMEvalOptions()
    if options.limit is not None and options.limit < 1:
        raise UserError(f"--limit must be >= 1, got {options.limit}")
    names = check_tasks(tasks)
    folders = {task: plan(TASKS[task], data)[TASKS[task]] for task in names}
    protocols = {task: benchmark(TASKS[task]).get_protocol(options.protocol) for task in names}
    out = Path(out)
    manager = task_manager()
    with tempfile.TemporaryDirectory(prefix="openeyes-lm-eval-") as scratch:
        scratch = Path(scratch)
        configs = []
        for task in names:
            module = benchmark(TASKS[task])
            data_file = convert_benchmark(TASKS[task], folders[task], scratch, protocol=protocols[task].name,
                                          split=options.split, swap_gold=options.swap_gold, limit=options.limit)
            items = module.load(folders[task], split=options.split, **load_options(module.NAME, options.swap_gold))
            metrics = metric_names(module, items[:1], protocols[task].name)
            configs.append(task_config(manager, task, data_file, scratch / "hf-datasets", protocols[task], metrics, options))
        model = OpenEyesLM(spec, mllm=mllm, batch_size=options.batch_size, device=options.device,
                           model_name=options.model_name, api_key=options.api_key, max_new_tokens=options.max_new_tokens)
        # --limit is applied by the converter (the same items as `eval mllm --limit`), not by lm-eval
        with quiet_git_hash():
            results = simple_evaluate(model=model, tasks=configs, task_manager=manager, limit=None,
                                      bootstrap_iters=0, log_samples=True, random_seed=options.seed,
                                      numpy_random_seed=options.seed, torch_random_seed=options.seed,
                                      fewshot_random_seed=options.seed)
    if results is None:  # not rank 0 under a distributed lm-eval launch
        return {}
    wanted = {config["task"]: [m["metric"] for m in config["metric_list"]] for config in configs}
    summary = {task: _metrics_of(results["results"].get(task, {}), wanted[task]) for task in names}
    out.mkdir(parents=True, exist_ok=True)
    record = model_record(spec, getattr(model.mllm, "name", None))
    write_json_atomic(out / RESULTS_FILE, json_safe({
        "lm_eval_version": getattr(lm_eval, "__version__", None), "results": summary,
        "raw_results": results["results"], "versions": results.get("versions"), "n-samples": results.get("n-samples"),
        "options": {k: v for k, v in asdict(options).items() if k != "api_key"}, "model": record,
        "protocols": {task: protocols[task].name for task in names}}))
    for task in names:
        bench = TASKS[task]
        chosen = protocols[task]
        write_results(out / bench, BenchmarkResult(
            benchmark=bench, protocol=chosen.name, headline=chosen.headline, metrics=summary[task],
            predictions=_sample_predictions(results.get("samples", {}).get(task, [])),
            data={"path": str(folders[task]), "split": options.split, "n_samples": results.get("n-samples", {}).get(task)},
            options={"runner": "lm-eval", "task": task, "limit": options.limit, "split": options.split,
                     "max_new_tokens": options.max_new_tokens, "generation": chosen.generation.to_dict()},
        ), record, seed=options.seed)
    return summary
