"""What ``openeyes serve --index X --workers N`` runs on, decided before any worker starts.

=====================  ===========  =============================================================
``--index``            workers      store
=====================  ===========  =============================================================
(none)                 1            FAISS in memory
(none)                 N > 1        a local Postgres in a temporary folder, removed at exit
a FAISS folder         1            that folder
a FAISS folder         N > 1        refused (exit 2): one process owns a FAISS folder
a local-Postgres dir   any          that folder's Postgres (started, or reused if running)
a new/empty folder     1 / N > 1    FAISS there / a local Postgres there (kept)
``postgresql://...``   any          that database (several replicas may share it)
=====================  ===========  =============================================================
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from openeyes.errors import UserError
from openeyes.serving import pg_local
from openeyes.serving.index_store import META_NAME
from openeyes.serving.pg_store import is_database_url


@dataclass
class IndexPlan:
    """Where the workers' index lives, and the local Postgres ``openeyes serve`` must run for it."""

    location: str | None  # what the workers open: None, a FAISS folder, or a postgresql:// URL (filled by start_local)
    local_folder: Path | None = None  # folder of a local Postgres to start (or reuse) before the workers
    temporary: bool = False  # remove local_folder at exit (the default of --workers N > 1 without --index)


def plan_index(index: str | None, workers: int) -> IndexPlan:
    if is_database_url(index):
        return IndexPlan(index)
    if index is None:
        if workers == 1:
            return IndexPlan(None)
        return IndexPlan(None, Path(tempfile.mkdtemp(prefix="openeyes-index-")), temporary=True)
    folder = Path(index).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--index {folder} is a file; give a folder or a postgresql:// URL")
    if pg_local.is_cluster(folder):
        return IndexPlan(None, folder)
    if (folder / META_NAME).is_file() or workers == 1:
        if workers > 1:
            raise UserError(f"--index {folder} holds a one-process FAISS index; with --workers {workers} give a new folder "
                            "(a shared local Postgres is made there) or a postgresql:// URL, or use --workers 1")
        return IndexPlan(str(folder))
    return IndexPlan(None, folder)


def start_local(plan: IndexPlan) -> bool:
    """Start (or reuse) the plan's local Postgres and point ``plan.location`` at it; whether it was started here."""
    if plan.local_folder is None:
        return False
    running = pg_local.is_running(plan.local_folder)
    plan.location = pg_local.start(plan.local_folder)
    return not running


def stop_local(plan: IndexPlan, started_here: bool) -> None:
    """Stop the local Postgres this process started; remove a temporary one's folder."""
    import shutil

    if plan.local_folder is None:
        return
    if started_here:
        pg_local.stop(plan.local_folder)
    if plan.temporary:
        shutil.rmtree(plan.local_folder, ignore_errors=True)
