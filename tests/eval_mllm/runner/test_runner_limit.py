"""`eval mllm --bench a,b`; `eval mllm --limit N` takes items from every split/source, in whole pairs/groups, so each
headline metric exists (the first N items held only POPE's random split, CV-Bench's first source
and could cut an MMVP pair or a NaturalBench group)."""
import json

from openeyes.cli import main
from runner_chat_server import ChatServer


def test_limit_reaches_every_split_and_source(world_root, tmp_path):
    with ChatServer() as server:
        server.answer = "varied"
        assert main(["eval", "mllm", "--model", server.url, "--model-name", "m", "--bench", "all", "--limit", "6",
                     "--data", str(world_root), "--out", str(tmp_path), "--no-progress"]) == 0
    results = {bench: json.loads((tmp_path / bench / "results.json").read_text())
               for bench in ("mmvp", "pope", "cv_bench", "naturalbench")}
    assert set(results["pope"]["per_category"]) == {"random", "popular", "adversarial"}
    cv_bench = results["cv_bench"]
    assert cv_bench["metrics"]["cv_bench"] is not None          # the formula needs ADE20K, COCO and Omni3D
    assert {key for key in cv_bench["per_category"] if key.startswith("source/")} == {
        "source/ADE20K", "source/COCO", "source/Omni3D"}
    assert results["naturalbench"]["data"]["groups_complete"] >= 1
    assert results["naturalbench"]["metrics"]["g_acc"] is not None
    assert results["mmvp"]["data"]["pairs_complete"] == 3 and results["mmvp"]["metrics"]["pair_accuracy"] is not None
    for bench, payload in results.items():
        assert payload["data"]["items"] in (6, 7, 8), bench     # about N: whole units, at most one more unit


def test_bench_takes_a_comma_separated_list(world_root, tmp_path):
    with ChatServer() as server:
        assert main(["eval", "mllm", "--model", server.url, "--model-name", "m", "--bench", "pope,cv-bench",
                     "--limit", "3", "--data", str(world_root), "--out", str(tmp_path), "--no-progress"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"pope", "cv_bench", "summary.json", "summary.md"}
    assert set(json.loads((tmp_path / "summary.json").read_text())) == {"pope", "cv_bench"}
