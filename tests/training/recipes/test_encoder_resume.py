"""`openeyes train encoder` never silently continues an earlier run (issue 20's first trap).

Before: two runs differing only in ``optim.lr`` wrote bit-identical weights, the second having
resumed the first's final checkpoint from the shared default run folder.
"""
import hashlib

from openeyes.cli import main
from encoder_recipe_settings import TINY

RUN = [o for o in TINY if not o.startswith("optim.lr")] + ["trainer.checkpoint_every=1"]


def _weights_hash(artifact):
    return hashlib.sha256((artifact / "model.safetensors").read_bytes()).hexdigest()


def test_another_lr_trains_anew_and_a_resume_is_explicit_and_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default run folders land here
    assert main(["train", "encoder", *RUN, "optim.lr=1e-2", "out=a"]) == 0
    assert main(["train", "encoder", *RUN, "optim.lr=1e-4", "out=b"]) == 0
    assert _weights_hash(tmp_path / "a") != _weights_hash(tmp_path / "b")  # each run in its own folder (a.run, b.run)
    assert (tmp_path / "a.run" / "checkpoints").is_dir() and (tmp_path / "b.run" / "checkpoints").is_dir()
    capsys.readouterr()

    assert main(["train", "encoder", *RUN, "optim.lr=1e-4", "out=a"]) == 2  # a.run holds a run: not reused silently
    refused = capsys.readouterr().err.strip()
    assert len(refused.splitlines()) == 1 and "a.run already holds an earlier run (checkpoint at step 3)" in refused
    assert "--resume" in refused

    assert main(["train", "encoder", "--resume", *RUN, "optim.lr=1e-4", "out=a"]) == 2  # another lr: refused
    refused = capsys.readouterr().err.strip()
    assert len(refused.splitlines()) == 1 and "optim.lr (0.01 -> 0.0001)" in refused and "--force-resume" in refused

    before = _weights_hash(tmp_path / "a")
    assert main(["train", "encoder", "--resume", *RUN, "optim.lr=1e-2", "out=a", "trainer.steps=5"]) == 0
    assert "resuming from step 3 of a.run" in capsys.readouterr().out
    extended = _weights_hash(tmp_path / "a")
    assert extended != before

    assert main(["train", "encoder", "--force-resume", *RUN, "optim.lr=1e-4", "out=a", "trainer.steps=6"]) == 0
    printed = capsys.readouterr().out
    assert "optim.lr (0.01 -> 0.0001)" in printed and "resuming from step 5 of a.run" in printed
    assert _weights_hash(tmp_path / "a") != extended
