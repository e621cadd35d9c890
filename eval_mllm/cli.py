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
