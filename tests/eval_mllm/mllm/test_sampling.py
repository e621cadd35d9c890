"""`--limit`'s selection: whole units, every stratum in turn, the data's order kept."""
from openeyes.eval_mllm.mllm.sampling import spread


def test_round_robin_over_strata_in_whole_units():
    items = [("a", 0), ("a", 0), ("a", 1), ("a", 1), ("b", 2), ("b", 2), ("c", 3)]
    chosen = spread(items, 3, lambda item: item)
    assert chosen == [("a", 0), ("a", 0), ("b", 2), ("b", 2)]   # a's first unit, b's first unit: 4 >= 3
    assert spread(items, 5, lambda item: item) == [("a", 0), ("a", 0), ("b", 2), ("b", 2), ("c", 3)]
    assert spread(items, 6, lambda item: item) == items
    assert spread(items, 100, lambda item: item) == items


def test_one_stratum_is_the_first_whole_units():
    items = list(range(10))
    assert spread(items, 3, lambda i: ("", i // 2)) == [0, 1, 2, 3]
    assert spread(items, 4, lambda i: ("", i)) == [0, 1, 2, 3]
