"""``openeyes world generate``: bad input ends with exit code 2 and one line on stderr."""
import json

import pytest

from openeyes.cli import main


@pytest.mark.parametrize("extra, needle", [
    (["--n", "0"], "--n"),
    (["--size", "8"], "--size"),
    (["--only", "mmvp_vlm,nope"], "nope"),
    (["--set", "no_such_knob=1"], "no_such_knob"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, extra, needle):
    code = main(["world", "generate", "--out", str(tmp_path / "w"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err
    assert not (tmp_path / "w").exists()


def test_out_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["world", "generate", "--out", str(target), "--n", "5", "--only", "pope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert target.read_text() == "x"


def test_generate_only_some_exports(tmp_path, capsys):
    out = tmp_path / "w"
    code = main(["world", "generate", "--out", str(out), "--n", "4", "--size", "32", "--only", "pope,retrieval",
                 "--seed", "3"])
    assert code == 0
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["exports"] == ["pope", "retrieval"] and manifest["size"] == 32
    assert sorted(p.name for p in out.iterdir()) == ["pope", "retrieval", "world.json"]
    assert manifest["counts"]["pope"]["random"] == 24


def test_a_second_run_into_the_same_world_keeps_the_first_exports_listed(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["world", "generate", "--out", str(out), "--n", "3", "--size", "32", "--only", "retrieval"]) == 0
    capsys.readouterr()
    assert main(["world", "generate", "--out", str(out), "--n", "3", "--size", "32", "--only", "pope"]) == 0
    assert "wrote pope to" in capsys.readouterr().out
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["exports"] == ["retrieval", "pope"] and set(manifest["counts"]) == {"retrieval", "pope"}
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # another seed beside exports it would not replace: refused, nothing touched
    assert main(["world", "generate", "--out", str(out), "--n", "3", "--size", "32", "--only", "pope",
                 "--seed", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another world" in err and "retrieval" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # replacing every export of the old world is allowed
    assert main(["world", "generate", "--out", str(out), "--n", "3", "--size", "32", "--only", "pope,retrieval",
                 "--seed", "9"]) == 0
    assert json.loads((out / "world.json").read_text())["seed"] == 9


def test_help_documents_what_n_scales():
    from typer.testing import CliRunner

    from openeyes.world.cli import app

    result = CliRunner().invoke(app, ["generate", "--help"])
    assert result.exit_code == 0 and "135" in result.output and "--only" in result.output


def test_a_failed_run_leaves_the_output_as_it_was(tmp_path):
    from openeyes.errors import UserError
    from openeyes.world.config import WorldConfig
    from openeyes.world.generate import generate_world

    out = tmp_path / "w"
    generate_world(out, seed=1, n=3, size=32, names=["retrieval"])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    impossible = WorldConfig(near_y=3.0, far_y=3.0)  # every object falls below the frame
    with pytest.raises(UserError):
        generate_world(out, seed=2, n=3, size=32, names=["retrieval", "pope"], config=impossible)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["w"]


def test_out_of_range_config_is_a_user_error(tmp_path, capsys):
    code = main(["world", "generate", "--out", str(tmp_path / "w"), "--set", "min_objects=5", "--set", "max_objects=2"])
    assert code == 2 and "min_objects" in capsys.readouterr().err
