"""The CLI root: lists each layer, turns every user error into one line and exit code 2."""
import subprocess
import sys

from openeyes.cli import main


def test_help_lists_layer_subapps(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for layer in ("world", "zoo", "train", "eval"):
        assert layer in out


def test_unknown_command_is_one_line_exit_2(capsys):
    assert main(["no-such-layer"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


def test_unknown_zoo_model_is_one_line_exit_2(capsys):
    assert main(["zoo", "path", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "unknown zoo model" in err and err.count("\n") == 1


def test_console_script_exit_code_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "openeyes.cli", "zoo", "path", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_version(capsys):
    from openeyes import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"openeyes {__version__}"


def test_every_core_sub_app_is_listed_even_when_entry_points_are_older(capsys):
    assert main(["--help"]) == 0
    assert "convert" in capsys.readouterr().out
