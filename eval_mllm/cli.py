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


ENCODER_BENCHES = "mmvp_vlm | zeroshot | retrieval | clustering | linear_probe | affinity | naturalbench_retrieval | all"


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
                                    help="linear_probe: mean patch token of this vision layer (default: image embeddings)."),
) -> None:
    """Score an encoder on encoder benchmarks and write results artifacts."""
    from openeyes.eval_mllm.encoder.runner import check_bench, evaluate_to_artifacts

    check_bench(bench)
    payloads = evaluate_to_artifacts(
        encoder, bench, data, out, device=device,
        batch_size=batch_size, seed=seed, split=split, probe_layer=probe_layer,
    )
    for name, payload in payloads.items():
        value = payload["metrics"].get(payload["headline"])
        shown = "n/a" if value is None else f"{value:.4f}"
        typer.echo(f"{name}: {payload['headline']} = {shown}")
    typer.echo(f"results written to {out}")


MLLM_BENCHES = "mmvp | pope | cv_bench | naturalbench"


@app.command("score")
def score_command(
    bench: str = typer.Option(..., "--bench", help=f"Benchmark: {MLLM_BENCHES}."),
    data: Path = typer.Option(..., "--data", help="The benchmark's folder (or table file) in its real layout."),
    predictions: Path = typer.Option(..., "--predictions", help='JSONL lines {"id": <item id>, "output": "<model text>"}.'),
    protocol: str = typer.Option(None, "--protocol", help="Reference protocol (default: the benchmark's own)."),
    split: str = typer.Option(None, "--split", help="POPE: random|popular|adversarial|all; CV-Bench: 2D|3D|all; HF split."),
    swap_gold: bool = typer.Option(False, "--swap-gold", help="MMVP: swap the gold of Index 99<->100 and 279<->280 (lmms-eval copy)."),
    out: Path = typer.Option(None, "--out", help="Also write a results artifact here."),
) -> None:
    """Score a predictions file exactly like the reference; print the metrics as one JSON object."""
    import json

    from openeyes.eval_mllm.mllm.registry import as_benchmark_result, benchmark, score_predictions
    from openeyes.eval_mllm.results import json_safe, model_record, write_results

    options = {"swap_gold": swap_gold} if benchmark(bench).NAME == "mmvp" else {}
    scored = score_predictions(bench, data, predictions, protocol=protocol, split=split, **options)
    if out is not None:
        write_results(out, as_benchmark_result(scored), model_record(None, name=predictions.stem))
    shown = {key: value for key, value in scored.items() if key != "predictions"}
    typer.echo(json.dumps(json_safe(shown)))


@app.command("mllm")
def mllm_command(
    model: str = typer.Option(..., "--model", help="MLLM directory/artifact, zoo:NAME, or an http(s):// OpenAI-compatible endpoint."),
    bench: str = typer.Option(..., "--bench", help=f"Benchmark: {MLLM_BENCHES} | all (every one under a world-export root)."),
    data: Path = typer.Option(..., "--data", help="The benchmark's folder, or a root holding <bench>/ folders."),
    out: Path = typer.Option(..., "--out", help="Results artifact folder (all: one sub-folder per benchmark)."),
    protocol: str = typer.Option(None, "--protocol", help="Reference protocol (default: the benchmark's own)."),
    split: str = typer.Option(None, "--split", help="POPE: random|popular|adversarial|all; CV-Bench: 2D|3D|all; HF split."),
    limit: int = typer.Option(None, "--limit", help="Only the first N items of each benchmark."),
    batch_size: int = typer.Option(8, "--batch-size", help="Requests per generate call (HTTP: requests in flight)."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Cap on the protocol's generation budget."),
    model_name: str = typer.Option(None, "--model-name", help="HTTP endpoint: the served model name (default: the first of /v1/models)."),
    api_key: str = typer.Option(None, "--api-key", help="HTTP endpoint: bearer token (default: $OPENAI_API_KEY)."),
    device: str = typer.Option("auto", "--device", help="Local model: cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling protocols (MMVP original)."),
    swap_gold: bool = typer.Option(False, "--swap-gold", help="MMVP: swap the gold of Index 99<->100 and 279<->280 (lmms-eval copy)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Generate answers with an MLLM (resumable, data-parallel), score them like the reference, write results."""
    from openeyes.eval_mllm.runner import MLLMEvalOptions, evaluate_mllm

    options = MLLMEvalOptions(protocol=protocol, split=split, limit=limit, batch_size=batch_size,
                              max_new_tokens=max_new_tokens, seed=seed, swap_gold=swap_gold, progress=progress)
    payloads = evaluate_mllm(model, bench, data, out, options, device=device, model_name=model_name, api_key=api_key)
    for name, payload in payloads.items():
        value = payload["metrics"].get(payload["headline"])
        shown = "n/a" if value is None else f"{value:.4f}"
        typer.echo(f"{name} ({payload['protocol']}): {payload['headline']} = {shown}")
    if payloads:
        typer.echo(f"results written to {out}")


@app.command("lm-eval")
def lm_eval_command(
    model: str = typer.Option(..., "--model", help="MLLM directory/artifact, zoo:NAME, or an http(s):// endpoint."),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated: openeyes_mmvp, openeyes_pope, openeyes_cv_bench, openeyes_naturalbench (or all)."),
    data: Path = typer.Option(..., "--data", help="A root holding <bench>/ folders (a world export), or one benchmark's folder."),
    out: Path = typer.Option(..., "--out", help="Folder for lm-eval's results and one results artifact per task."),
    limit: int = typer.Option(None, "--limit", help="Only the first N documents of each task."),
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
) -> None:
    """Put evaluation runs side by side: markdown table (mean ± std over repeats) and bar plots."""
    from openeyes.eval_mllm.compare import compare, markdown_table

    summary = compare(runs, out)
    typer.echo(markdown_table(summary), nl=False)
