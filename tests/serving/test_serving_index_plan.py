"""Which store ``openeyes serve --index X --workers N`` runs on: every combination is either one
consistent index for all workers or refused before any process starts."""
import pytest

from openeyes.errors import UserError
from openeyes.serving.index_plan import plan_index
from openeyes.serving.index_store import IndexStore
from openeyes.serving.stores import require_shared


def test_one_worker_keeps_faiss_and_several_get_postgres(tmp_path):
    assert plan_index(None, 1).location is None and plan_index(None, 1).local_folder is None
    shared = plan_index(None, 2)
    assert shared.temporary and shared.local_folder.is_dir()  # a local Postgres in a temporary folder
    shared.local_folder.rmdir()
    assert plan_index(str(tmp_path / "new"), 1).location == str(tmp_path / "new")  # FAISS folder
    kept = plan_index(str(tmp_path / "new"), 3)
    assert kept.local_folder == tmp_path / "new" and not kept.temporary
    url = "postgresql://user@db.example/openeyes"
    assert plan_index(url, 4).location == url and plan_index(url, 4).local_folder is None


def test_inconsistent_combinations_are_refused(tmp_path):
    IndexStore.open(tmp_path / "faiss", dim=4, fingerprint="f").close()
    with pytest.raises(UserError, match="one-process FAISS index.*--workers 1"):
        plan_index(str(tmp_path / "faiss"), 2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        plan_index(str(tmp_path / "file"), 1)
    for location in (None, str(tmp_path / "faiss")):  # bentoml serve started by hand with several workers
        with pytest.raises(UserError, match="shared index"):
            require_shared(location, 2)
    require_shared("postgresql://u@h/d", 2)
    require_shared(None, 1)
