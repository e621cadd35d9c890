"""Property-based fuzzing of every operation in the live service's own /openapi.json with
schemathesis (coverage + fuzzing phases, at most 25 examples per operation): no 5xx anywhere,
every answer conforms to the spec (documented statuses, content types, response schemas and
headers), invalid data and wrong methods are refused (4xx, 405), and the service is still ready
afterwards. Only ``positive_data_acceptance`` is left out: a schema cannot say that a string must
be a decodable image or a non-empty text, and those are refused with 400 by design."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HUNG_AFTER_S, server_env, start_standalone

pytest.importorskip("schemathesis", reason="schemathesis (dev extra) runs this test")


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(artifacts, tmp_path):
    live = start_standalone(encoder=artifacts["encoder"], mllm=artifacts["mllm"], index=str(tmp_path / "idx"), ui="0")
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "the schemathesis command is not installed next to this python"
    try:
        run = subprocess.run(["nice", "-n", "19", st, "run", live.url + "/openapi.json", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                              "--max-examples", "25", "--seed", "20261123", "--request-timeout", "600", "--workers", "1",
                              "--no-color"],
                             capture_output=True, text=True, timeout=HUNG_AFTER_S, env=server_env(), cwd=tmp_path)  # its cache dir goes there
        summary = run.stdout[-3000:]
        assert run.returncode == 0, summary
        tested = re.search(r"Tested: (\d+)", summary)
        assert tested and int(tested.group(1)) >= 15, summary  # every operation of the spec ran
        with live.client() as client:
            assert client.get("/readyz").status_code == 200
    finally:
        live.stop()
