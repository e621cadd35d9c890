"""``openeyes eval``: score encoders and MLLMs (own runner or lm-eval) and write results artifacts.

Kept light: heavy imports (torch, the benchmarks) happen inside the commands.
"""
from __future__ import annotations

from pathlib import Path
import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Evaluate encoders and MLLMs exactly as the reference implementations do.")



@app.callback()
def eval_group() -> None:
    """Evaluate encoders and MLLMs exactly as the reference implementations do."""


ENCODER_BENCHES = ("mmvp_vlm | zeroshot | retrieval | clustering | linear_probe | affinity | naturalbench_retrieval | "
                   "attribute_probe, "
                   "a comma-separated list of them, or all (every one whose data is there)")


@app.command("encoder")
def encoder_command(
    encoder: str = typer.Option(..., "--encoder", help="Encoder artifact dir, HF id/dir, open_clip name or zoo name."),
    bench: str = typer.Option(..., "--bench", help=f"Benchmark: {ENCODER_BENCHES}."),
    data: Path = typer.Option(..., "--data", help="Benchmark folder, or a root holding several (e.g. a world export)."),
    out: Path = typer.Option(..., "--out", help="Where the results artifact(s) go."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images or texts per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Random seed (clustering's KMeans/PCA)."),
    split: str = typer.Option("test", "--split", help="Dataset split folder / Karpathy annotation split."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    probe_layer: int = typer.Option(None, "--probe-layer",
                                    help="linear_probe: mean patch token of this vision layer (default: image embeddings); "
                                         "attribute_probe: the layer whose patch tokens it flattens (default: -1, the last)."),
    engine: str = typer.Option("torch", "--engine", help="torch, or onnx-int8 (int8 onnxruntime towers on the CPU, "
                                                         "checked against torch at load; no --probe-layer)."),
) -> None:
    """Score an encoder on encoder benchmarks and write results artifacts."""
    from openeyes.errors import UserError
    from openeyes.eval_mllm.encoder.runner import check_bench, evaluate_to_artifacts

    check_bench(bench)
    engine = engine.strip().lower()
    if engine != "torch" and probe_layer is not None:
        raise UserError(f"--probe-layer reads patch tokens, which the {engine} engine does not compute; use --engine torch")
    skipped: dict[str, str] = {}
    payloads = evaluate_to_artifacts(
        encoder, bench, data, out, device=device, skipped=skipped, engine=engine,
        batch_size=batch_size, seed=seed, split=split, probe_layer=probe_layer,
    )
    for name, payload in payloads.items():
        value = payload["metrics"].get(payload["headline"])
        shown = "n/a" if value is None else f"{value:.4f}"
        typer.echo(f"{name}: {payload['headline']} = {shown}")
    for name, reason in skipped.items():
        typer.echo(f"{name}: not run: {reason}", err=True)
    typer.echo(f"results written to {out}")


MLLM_BENCHES = "mmvp | pope | cv_bench | naturalbench"

# MMVP's original protocol: an LLM judge instead of the offline exact-match stand-in (same options on score and mllm)
GRADER = typer.Option(None, "--grader", help="MMVP original: an OpenAI-compatible endpoint, http(s)://HOST:PORT or .../v1, "
                                               "that judges each answer with the reference grader prompt (default: "
                                               "the offline exact-match stand-in).")
GRADER_MODEL = typer.Option("gpt-4-0314", "--grader-model", help="--grader: the judge model's name (the reference's by default).")
GRADER_KEY_ENV = typer.Option("OPENAI_API_KEY", "--grader-key-env",
                              help="--grader: environment variable holding the judge's API key (unset: no key sent).")
GRADER_CACHE = typer.Option(None, "--grader-cache", help="--grader: JSONL file of cached judgments "
                                                         "(default: grader_judgments.jsonl in the results folder).")


def grader_config(url: str | None, model: str, key_env: str, cache: Path | None):
    """The judge the --grader options name, or None (offline stand-in)."""
    from openeyes.errors import UserError
    from openeyes.eval_mllm.mllm.grader import GraderConfig

    if url is None:
        if cache is not None:
            raise UserError("--grader-cache needs --grader URL")
        return None
    config = GraderConfig(url=url, model=model, api_key_env=key_env, cache=cache)
    config.check()
    return config


def echo_grader(payload: dict) -> None:
    grader = (payload.get("options") or {}).get("grader") or payload.get("grader")
    if isinstance(grader, dict) and grader.get("kind") == "llm":
        typer.echo(f"grader {grader['model']} at {grader['url']}: {grader['asked']} judgments asked, "
                   f"{grader['reused']} reused from {grader['cache']}")


@app.command("score")
def score_command(
    bench: str = typer.Option(..., "--bench", help=f"Benchmark: {MLLM_BENCHES}."),
    data: Path = typer.Option(..., "--data", help="The benchmark's folder (or table file) in its real layout, "
                                                   "or a root holding <bench>/ folders (a world export)."),
    predictions: Path = typer.Option(..., "--predictions", help='JSONL lines {"id": <item id>, "output": "<model text>"}.'),
    protocol: str = typer.Option(None, "--protocol", help="Reference protocol (default: the benchmark's own)."),
    split: str = typer.Option(None, "--split", help="POPE: random|popular|adversarial|all; CV-Bench: 2D|3D|all; HF split."),
    swap_gold: bool = typer.Option(False, "--swap-gold", help="MMVP: swap the gold of Index 99<->100 and 279<->280 (lmms-eval copy)."),
    out: Path = typer.Option(None, "--out", help="Also write a results artifact here."),
    grader: str = GRADER,
    grader_model: str = GRADER_MODEL,
    grader_key_env: str = GRADER_KEY_ENV,
    grader_cache: Path = GRADER_CACHE,
) -> None:
    """Score a predictions file exactly like the reference; print the metrics as one JSON object."""
    import json

    from openeyes.eval_mllm.mllm.grader import CACHE_FILE, build_grader
    from openeyes.eval_mllm.mllm.registry import as_benchmark_result, benchmark, score_predictions
    from openeyes.eval_mllm.results import json_safe, model_record, write_results
    from openeyes.errors import UserError
    from openeyes.eval_mllm.runner import bench_names, check_grader, plan

    names = bench_names(bench)
    if names is None or len(names) != 1:
        raise UserError("eval score reads one benchmark's predictions file: give one --bench name "
                        "(run it once per benchmark)")
    (name, data), = plan(names[0], data).items()   # a world-export root -> its <bench>/ folder
    module = benchmark(name)
    config = grader_config(grader, grader_model, grader_key_env, grader_cache)
    check_grader(config, [module.NAME], protocol)
    default_cache = (out / CACHE_FILE) if out is not None else predictions.with_name(predictions.stem + ".grader_judgments.jsonl")
    judge = build_grader(config, default_cache)
    options = {"swap_gold": swap_gold} if module.NAME == "mmvp" else {}
    try:
        scored = score_predictions(name, data, predictions, protocol=protocol, split=split, grader=judge, **options)
    finally:
        if judge is not None:
            judge.close()
    if out is not None:
        write_results(out, as_benchmark_result(scored), model_record(None, name=predictions.stem))
    shown = {key: value for key, value in scored.items() if key != "predictions"}
    typer.echo(json.dumps(json_safe(shown)))
    if out is not None:
        typer.echo(f"results written to {out}", err=True)


@app.command("mllm")
def mllm_command(
    model: str = typer.Option(..., "--model", help="MLLM directory/artifact, zoo:NAME, or an http(s):// OpenAI-compatible endpoint."),
    bench: str = typer.Option(..., "--bench", help=f"Benchmark: {MLLM_BENCHES}, a comma-separated list of them, "
                                                     "or all (every one under a world-export root)."),
    data: Path = typer.Option(..., "--data", help="The benchmark's folder, or a root holding <bench>/ folders."),
    out: Path = typer.Option(..., "--out", help="Results artifact folder (all: one sub-folder per benchmark)."),
    protocol: str = typer.Option(None, "--protocol", help="Reference protocol (default: the benchmark's own)."),
    split: str = typer.Option(None, "--split", help="POPE: random|popular|adversarial|all; CV-Bench: 2D|3D|all; HF split."),
    limit: int = typer.Option(None, "--limit", help="About N items of each benchmark, taken in order over every "
                                                     "split/source in turn and in whole pairs/groups."),
    batch_size: int = typer.Option(8, "--batch-size", help="Requests per generate call (HTTP: requests in flight)."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Cap on the protocol's generation budget."),
    model_name: str = typer.Option(None, "--model-name", help="HTTP endpoint: the served model name (default: the first of /v1/models)."),
    api_key: str = typer.Option(None, "--api-key", help="HTTP endpoint: bearer token (default: $OPENAI_API_KEY)."),
    device: str = typer.Option("auto", "--device", help="Local model: cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling protocols (MMVP original)."),
    swap_gold: bool = typer.Option(False, "--swap-gold", help="MMVP: swap the gold of Index 99<->100 and 279<->280 (lmms-eval copy)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    grader: str = GRADER,
    grader_model: str = GRADER_MODEL,
    grader_key_env: str = GRADER_KEY_ENV,
    grader_cache: Path = GRADER_CACHE,
) -> None:
    """Generate answers with an MLLM (resumable, data-parallel), score them like the reference, write results."""
    from openeyes.eval_mllm.runner import MLLMEvalOptions, evaluate_mllm

    options = MLLMEvalOptions(protocol=protocol, split=split, limit=limit, batch_size=batch_size,
                              max_new_tokens=max_new_tokens, seed=seed, swap_gold=swap_gold, progress=progress,
                              grader=grader_config(grader, grader_model, grader_key_env, grader_cache))
    payloads = evaluate_mllm(model, bench, data, out, options, device=device, model_name=model_name, api_key=api_key)
    for name, payload in payloads.items():
        value = payload["metrics"].get(payload["headline"])
        shown = "n/a" if value is None else f"{value:.4f}"
        typer.echo(f"{name} ({payload['protocol']}): {payload['headline']} = {shown}")
        echo_grader(payload)
    if payloads:
        typer.echo(f"results written to {out}")


@app.command("lm-eval")
def lm_eval_command(
    model: str = typer.Option(..., "--model", help="MLLM directory/artifact, zoo:NAME, or an http(s):// endpoint."),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated: openeyes_mmvp, openeyes_pope, openeyes_cv_bench, openeyes_naturalbench (or all)."),
    data: Path = typer.Option(..., "--data", help="A root holding <bench>/ folders (a world export), or one benchmark's folder."),
    out: Path = typer.Option(..., "--out", help="Folder for lm-eval's results and one results artifact per task."),
    limit: int = typer.Option(None, "--limit", help="About N documents of each task, the items `eval mllm --limit N` takes."),
    protocol: str = typer.Option(None, "--protocol", help="Reference protocol for every task (default: each benchmark's own)."),
    split: str = typer.Option(None, "--split", help="POPE / CV-Bench split, as for `eval mllm`."),
    batch_size: int = typer.Option(8, "--batch-size", help="Requests per generate call."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Cap on the protocol's generation budget."),
    model_name: str = typer.Option(None, "--model-name", help="HTTP endpoint: the served model name."),
    api_key: str = typer.Option(None, "--api-key", help="HTTP endpoint: bearer token (default: $OPENAI_API_KEY)."),
    device: str = typer.Option("auto", "--device", help="Local model: cpu, cuda, cuda:N or auto."),
) -> None:
    """Run the openeyes tasks through lm-evaluation-harness (offline, lm_eval.simple_evaluate)."""
    from openeyes.eval_mllm.lm_eval.run import LMEvalOptions, run_lm_eval

    options = LMEvalOptions(limit=limit, protocol=protocol, split=split, batch_size=batch_size,
                            max_new_tokens=max_new_tokens, device=device, model_name=model_name, api_key=api_key)
    summary = run_lm_eval(model, [t.strip() for t in tasks.split(",") if t.strip()], data, out, options)
    for task, metrics in summary.items():
        shown = ", ".join(f"{k}={'n/a' if v is None else format(v, '.4f')}" for k, v in metrics.items())
        typer.echo(f"{task}: {shown}")
    typer.echo(f"results written to {out}")


@app.command("compare")
def compare_command(
    runs: list[str] = typer.Argument(..., help="Results folders, as DIR or LABEL=DIR (repeats share a LABEL)."),
    out: Path = typer.Option(..., "--out", help="Folder for comparison.md, comparison.json and plots."),
    by_pattern: bool = typer.Option(False, "--by-pattern", help="Also per-pattern tables of MMVP-VLM, the attribute "
                                    "probe, an MLLM's world MMVP and CV-Bench's tasks (patterns.md, patterns.json)."),
    paired_to: str = typer.Option(None, "--paired-to", help="A LABEL: every other run minus that label's run on the "
                                  "same data, per trained model, with a 95 % interval over models (paired.md, paired.json)."),
) -> None:
    """Put evaluation runs side by side: markdown table (mean ± std over repeats) and bar plots."""
    from openeyes.eval_mllm.compare import compare, markdown_table
    from openeyes.eval_mllm.paired import paired_markdown, paired_tables, write_paired_tables

    paired = paired_tables(runs, paired_to) if paired_to else None  # a bad label fails before anything is written
    summary = compare(runs, out)
    typer.echo(markdown_table(summary), nl=False)
    if by_pattern:
        from openeyes.eval_mllm.pattern_table import pattern_markdown, write_pattern_tables

        typer.echo("\n" + pattern_markdown(write_pattern_tables(runs, out)), nl=False)
    if paired:
        typer.echo("\n" + paired_markdown(write_paired_tables(runs, paired_to, out, paired)), nl=False)
    plots = sorted(path.name for path in Path(out).glob("*.png"))
    typer.echo(f"comparison written to {out}: comparison.md, comparison.json"
               + (f", {len(plots)} plot{'s' if len(plots) != 1 else ''} ({', '.join(plots)})" if plots else ""))


@app.command("drift")
def drift_command(
    encoder: str = typer.Option(..., "--encoder", help="The fine-tuned encoder (artifact dir, zoo name, HF dir...)."),
    reference: str = typer.Option(..., "--reference", help="The encoder it started from (e.g. zoo:tiny-clip)."),
    data: Path = typer.Option(..., "--data", help="An MMVP-VLM folder (a world export's mmvp_vlm/): its pair images."),
    out: Path = typer.Option(None, "--out", help="Also write the report here as JSON."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per forward pass."),
) -> None:
    """How far ENCODER moved from REFERENCE: same-image embedding and patch cosines and pair cosines per MMVP
    pattern, and the image tower's relative weight change. Prints the report as one JSON line."""
    import json

    from openeyes.encoders.loading import load_encoder
    from openeyes.eval_mllm.encoder.drift import drift_json, measure_drift

    report = drift_json(measure_drift(load_encoder(reference), load_encoder(encoder), data, batch_size=batch_size))
    text = json.dumps(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    typer.echo(text)
