"""``openeyes eval``: score encoders (and, later, MLLMs) and write results artifacts.

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


ENCODER_BENCHES = "mmvp_vlm | zeroshot | retrieval | clustering | affinity | naturalbench_retrieval | all"


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
) -> None:
    """Score an encoder on encoder benchmarks and write results artifacts."""
    from openeyes.eval_mllm.encoder.runner import check_bench, evaluate_to_artifacts

    check_bench(bench)
    payloads = evaluate_to_artifacts(
        encoder, bench, data, out, device=device,
        batch_size=batch_size, seed=seed, split=split,
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


@app.command("compare")
def compare_command(
    runs: list[str] = typer.Argument(..., help="Results folders, as DIR or LABEL=DIR (repeats share a LABEL)."),
    out: Path = typer.Option(..., "--out", help="Folder for comparison.md, comparison.json and plots."),
) -> None:
    """Put evaluation runs side by side: markdown table (mean ± std over repeats) and bar plots."""
    from openeyes.eval_mllm.compare import compare, markdown_table

    summary = compare(runs, out)
    typer.echo(markdown_table(summary), nl=False)
