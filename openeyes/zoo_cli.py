"""``openeyes zoo``: list the embedded default models and print their paths."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="The embedded default models (zoo/): list them, find their paths.")


@app.command("list")
def list_models() -> None:
    """List the zoo's models: name, kind, built or not, description."""
    from openeyes.zoo_registry import entries

    for found in entries().values():
        state = "built" if found.built else "not built"
        typer.echo(f"{found.name:<20} {found.kind:<8} {state:<10} {found.description}")


@app.command("path")
def path(name: str = typer.Argument(..., help="zoo model name, as in `openeyes zoo list`")) -> None:
    """Print the folder of a built zoo model (usable wherever a model path is)."""
    from openeyes.zoo_registry import resolve

    typer.echo(resolve("zoo:" + name))


@app.command("publish")
def publish_command(
    source: str = typer.Argument(..., help="a trained artifact folder (encoder, prior, lm or mllm)"),
    name: str = typer.Argument(..., help="the zoo folder it goes to (must hold a recipe.yaml)"),
    dtype: str = typer.Option("float16", help="storage dtype of the weights: float16 | bfloat16 | float32"),
) -> None:
    """Copy a trained artifact into zoo/NAME with compact weights and a re-hashed card."""
    from openeyes.zoo_registry import publish

    typer.echo(f"published {publish(source, name, dtype)}")
