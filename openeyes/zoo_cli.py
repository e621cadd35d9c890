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
