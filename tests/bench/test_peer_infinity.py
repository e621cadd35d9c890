"""bench/peer_infinity.py's reporting, without servers (the benchmark itself is run by hand)."""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "peer_infinity.py"


def load_module():
    spec = importlib.util.spec_from_file_location("peer_infinity", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_report_prints_throughput_ratio_health_and_client_lines(capsys):
    bench = load_module()
    tallies = {}
    for kind in bench.KINDS:
        for side, items in (("openeyes", 40), ("infinity", 80), ("in_process", 100)):
            tally = bench.Tally()
            tally.add(items, 0, 10.0, [100.0, 200.0], client_cpu=0.1 if side != "in_process" else 0.0, server_cpu=20.0)
            tallies[(side, kind)] = tally
    health = {name: bench.Tally() for name in ("openeyes", "infinity")}
    for tally in health.values():
        tally.add(5000, 0, 5.0, [10.0], client_cpu=2.0, server_cpu=4.0)
    bench.report(tallies, health, argparse.Namespace(concurrency=32))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ratios = {line["kind"]: line for line in lines if line["measure"] == "ratio"}
    assert ratios["texts"]["openeyes_over_infinity"] == 0.5 and ratios["images"]["infinity_over_in_process"] == 0.8
    assert ratios["texts"]["per_cpu_s"]["openeyes_over_in_process"] == 0.4
    assert [line["side"] for line in lines if line["measure"] == "health"] == ["openeyes", "infinity"]
    client = next(line for line in lines if line["measure"] == "client_cost")
    assert client["client_cpu_s"] == 4.4 and client["servers_cpu_s"] == 88.0


def test_cosines_of_equal_rows_are_one():
    import numpy as np

    bench = load_module()
    rows = np.random.default_rng(0).normal(size=(3, 8))
    assert bench.cosines(rows, rows * 2.0) == [1.0, 1.0, 1.0]
