"""The sharded data order: identical global batches for any process count, epochs, resume."""
import pytest

from openeyes.errors import UserError
from openeyes.trainer.sampler import ShardedBatchSampler


def test_global_batches_do_not_depend_on_process_count():
    one = list(ShardedBatchSampler(50, batch_size=8, world=1, rank=0, seed=5, stop=20))
    two = [ShardedBatchSampler(50, batch_size=4, world=2, rank=r, seed=5, stop=20) for r in (0, 1)]
    rank0, rank1 = list(two[0]), list(two[1])
    assert [a + b for a, b in zip(rank0, rank1)] == one
    four = [list(ShardedBatchSampler(50, batch_size=2, world=4, rank=r, seed=5, stop=20)) for r in range(4)]
    assert [sum((four[r][m] for r in range(4)), []) for m in range(20)] == one


def test_epochs_cover_the_data_once_and_reshuffle():
    sampler = ShardedBatchSampler(20, batch_size=4, seed=1, stop=10)  # 5 batches per epoch
    batches = list(sampler)
    epoch0, epoch1 = sum(batches[:5], []), sum(batches[5:], [])
    assert sorted(epoch0) == sorted(epoch1) == list(range(20))
    assert epoch0 != epoch1
    assert list(ShardedBatchSampler(20, 4, seed=2, stop=10)) != batches


def test_drops_the_tail_and_resumes_midway():
    sampler = ShardedBatchSampler(22, batch_size=5, seed=0, stop=8)  # 4 batches per epoch, 2 dropped
    full = list(sampler)
    assert all(len(set(sum(full[e * 4:(e + 1) * 4], []))) == 20 for e in (0, 1))
    assert list(ShardedBatchSampler(22, 5, seed=0, start=3, stop=8)) == full[3:]
    assert len(ShardedBatchSampler(22, 5, seed=0, start=3, stop=8)) == 5


def test_too_small_dataset_is_a_user_error():
    with pytest.raises(UserError, match="fewer than one global micro-batch"):
        ShardedBatchSampler(6, batch_size=4, world=2)
