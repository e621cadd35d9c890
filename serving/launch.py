"""Run ``bentoml serve`` for this service with a Prometheus multiprocess folder of its own.

BentoML keeps every server's metric files in one folder under ``$BENTOML_HOME`` and empties it
when a server starts, so a second BentoML server on the same host would wipe this one's
``/metrics``. ``python -m openeyes.serving.launch ARGS`` (what ``openeyes serve`` runs) points
BentoML at a fresh temporary folder, runs ``bentoml serve ARGS`` and removes the folder on exit.
"""
from __future__ import annotations

import shutil
import sys
import tempfile


def main(argv: list[str]) -> int:
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    directory = tempfile.mkdtemp(prefix="openeyes-metrics-")
    BentoMLContainer.prometheus_multiproc_dir.set(directory)
    try:
        cli.main(args=["serve", *argv], prog_name="bentoml", standalone_mode=True)
    except SystemExit as done:
        return int(done.code or 0)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
