"""The ``openeyes`` command: a root that finds each layer's sub-app lazily.

Layers register a typer app under the ``openeyes.cli`` entry-point group (pyproject.toml);
the root imports one only when its command runs (or when ``--help`` lists it), so the core
imports no layer. Every user error ends with one line on stderr and exit code 2.
"""
from __future__ import annotations

import sys
from importlib import metadata, import_module

import click
import typer

try:  # typer >= 0.26 bundles its own copy of click: catch both
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover - older typer raises click's own exceptions
    _typer_click = click.exceptions

EXITS = (click.exceptions.Exit, typer.Exit)
ABORTS = (click.exceptions.Abort, typer.Abort)
CLICK_ERRORS = (click.ClickException, _typer_click.ClickException)
NO_ARGS_HELP = tuple(
    module.NoArgsIsHelpError for module in (click.exceptions, _typer_click) if hasattr(module, "NoArgsIsHelpError")
)

from openeyes.errors import UserError

ENTRY_POINT_GROUP = "openeyes.cli"

# Used when openeyes runs from a checkout that was never installed (no entry points yet), and for
# any sub-app an older install's entry points do not list yet.
FALLBACK_SUBAPPS = {
    "world": "openeyes.world.cli:app",
    "zoo": "openeyes.zoo_cli:app",
    "convert": "openeyes.convert_cli:app",
    "encoder": "openeyes.encoder_cli:app",
    "train": "openeyes.training.cli:app",
    "eval": "openeyes.eval_mllm.cli:app",
    "integrate": "openeyes.integrations.cli:app",
    "serve": "openeyes.serving.cli:app",
}


def _subapp_targets() -> dict[str, str]:
    found = {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return dict(sorted({**FALLBACK_SUBAPPS, **found}.items()))


def _load(target: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    app = getattr(import_module(module_name), attr)
    return typer.main.get_command(app) if isinstance(app, typer.Typer) else app


class LazyLayers(click.Group):
    """A click group whose sub-commands are the layers' typer apps, imported on demand."""

    def list_commands(self, ctx):
        return list(_subapp_targets())

    def get_command(self, ctx, name):
        target = _subapp_targets().get(name)
        return None if target is None else _load(target)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from openeyes import __version__

        click.echo(f"openeyes {__version__}")
        ctx.exit()


root = LazyLayers(
    name="openeyes",
    help="openeyes: enhance vision encoders, put them into MLLMs, evaluate and serve them.",
    params=[click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
                         help="Show the version and exit.")],
)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 on success, 2 on any user error."""
    args = sys.argv[1:] if argv is None else argv
    try:
        root.main(args=args, prog_name="openeyes", standalone_mode=False)
    except EXITS as done:  # --help, typer.Exit(code)
        return getattr(done, "exit_code", 0)
    except ABORTS:
        print("error: aborted", file=sys.stderr)
        return 2
    except NO_ARGS_HELP as bare:  # a group called without a sub-command: show its help
        print(bare.ctx.get_help() if getattr(bare, "ctx", None) else "")
        return 0
    except CLICK_ERRORS as problem:  # usage errors, bad parameter values
        print(f"error: {_one_line(problem.format_message())}", file=sys.stderr)
        return 2
    except UserError as problem:
        print(f"error: {_one_line(str(problem))}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    run()
