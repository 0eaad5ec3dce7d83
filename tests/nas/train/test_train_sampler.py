"""EpochSampler: a pure function of (seed, epoch); ranks disjoint; `start` resumes mid-epoch."""

from __future__ import annotations

from nas.train.distributed import EpochSampler, steps_per_epoch


def test_order_is_pure_and_changes_with_epoch() -> None:
    a = EpochSampler(10, batch_size=2, seed=1, epoch=0).indices()
    assert a == EpochSampler(10, batch_size=2, seed=1, epoch=0).indices()
    assert a != EpochSampler(10, batch_size=2, seed=1, epoch=1).indices()
    assert sorted(a) == list(range(10))


def test_ranks_are_disjoint_full_batches() -> None:
    shards = [EpochSampler(11, batch_size=2, seed=0, rank=r, world_size=2).indices()
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == steps_per_epoch(11, 2, 2) * 2 == 4
    assert not set(shards[0]) & set(shards[1])


def test_start_skips_the_consumed_samples() -> None:
    full = EpochSampler(12, batch_size=4, seed=2, epoch=3).indices()
    assert EpochSampler(12, batch_size=4, seed=2, epoch=3, start=8).indices() == full[8:]


def test_tiny_set_still_fills_a_batch_and_eval_order_is_plain() -> None:
    assert len(EpochSampler(3, batch_size=4).indices()) == 4
    assert EpochSampler(5, shuffle=False, rank=1, world_size=2).indices() == [1, 3]
