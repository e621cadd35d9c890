"""The wheel installs the layers as openeyes subpackages and no generic top-level names."""
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERIC_NAMES = ("training", "serving", "integrations", "eval_mllm", "zoo")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True,
    )
    (found,) = out.glob("openeyes-*.whl")
    return found


def test_wheel_has_no_generic_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        names = archive.namelist()
    assert not tops & set(GENERIC_NAMES), tops
    assert "openeyes/training/objectives/clip.py" in names
    assert "openeyes/eval_mllm/__init__.py" in names
    assert any(n.startswith("openeyes/zoo/") and n.endswith("recipe.yaml") for n in names)
    assert any(n.startswith("openeyes/serving/examples/") and n.endswith(".png") for n in names)  # the UI's examples


def test_wheel_in_fresh_venv_imports_layers_from_outside_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    probe = (
        "import importlib.util, openeyes.training, openeyes.integrations, openeyes.eval_mllm, openeyes.serving;"
        "print(openeyes.training.__file__);"
        f"print([n for n in {GENERIC_NAMES!r} if importlib.util.find_spec(n)])"
    )
    result = subprocess.run([str(python), "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True)
    location, leaked = result.stdout.splitlines()
    assert str(env_dir) in location and str(REPO) not in location
    assert leaked == "[]"
