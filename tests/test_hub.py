"""Model specs fail fast with one line when they are neither a directory nor a readable hub id (issue 20).

Before: with HF_HUB_OFFLINE unset and no network, a mistyped path or hub id sat through
huggingface_hub's "Retrying in 8s" (50-78 s), then printed PosixPath(...) or the hub's repo-id
rules. These run the real CLI in a subprocess with HF_HUB_OFFLINE unset.
"""
import os
import subprocess
import sys

import pytest

from openeyes.errors import UserError
from openeyes.hub import locate, looks_like_hub_id

ONLINE_ENV = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}


def run_cli(tmp_path, *args):
    """The CLI with the hub allowed; bounded (a hang fails the test instead of stalling the suite)."""
    done = subprocess.run([sys.executable, "-m", "openeyes.cli", *args], env=ONLINE_ENV, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr


def assert_one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr[-2000:]
    assert "Retrying" not in stderr and "PosixPath" not in stderr and "repo_id" not in stderr.lower()
    return lines[0]


def test_mistyped_paths_fail_in_one_line_without_asking_the_hub(tmp_path):
    code, stderr = run_cli(tmp_path, "integrate", "swap", "--mllm", "runs/no-such-mllm", "--encoder", "zoo:tiny-clip",
                           "--out", str(tmp_path / "out"))
    line = assert_one_line(stderr)
    assert code == 2 and "MLLM runs/no-such-mllm" in line and "no such directory" in line
    code, stderr = run_cli(tmp_path, "integrate", "llava", "--encoder", "./runs/typo/encoder", "--lm", "zoo:tiny-lm",
                           "--out", str(tmp_path / "out"))
    line = assert_one_line(stderr)
    assert code == 2 and "encoder ./runs/typo/encoder: no such directory" in line


def test_a_hub_id_that_cannot_be_read_fails_in_one_line(tmp_path):
    """Here there is no network: 'hub unreachable'; with a network the hub's 404 is the one line."""
    code, stderr = run_cli(tmp_path, "integrate", "llava", "--encoder", "zoo:tiny-clip",
                           "--lm", "openeyes-test/no-such-lm", "--out", str(tmp_path / "out"))
    line = assert_one_line(stderr)
    assert code == 2 and "language model openeyes-test/no-such-lm" in line
    assert "unreachable" in line or "cannot load" in line


@pytest.mark.parametrize("spec,hub", [("openai/clip-vit-base-patch32", True), ("clip", True), ("runs/x/y", False),
                                      ("./x", False), ("/abs", False), ("~/m", False), ("a b", False), ("x/", False),
                                      ("org/.hidden", False), ("win\\path", False)])
def test_which_specs_may_be_hub_ids(spec, hub):
    assert looks_like_hub_id(spec) is hub


def test_locate_resolves_zoo_names_and_directories(tmp_path):
    from openeyes.zoo_registry import resolve

    assert locate("zoo:tiny-clip", "encoder") == resolve("zoo:tiny-clip")
    assert locate(tmp_path, "encoder") == str(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        locate(tmp_path / "f", "MLLM")
