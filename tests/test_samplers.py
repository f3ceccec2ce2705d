"""Batch plans: their constraints hold in every batch, their length is exact, every drawn
sample is used once, and ranks share each global batch without overlap."""

from __future__ import annotations

import os
import traceback
from collections import Counter
from itertools import chain

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from contrastor.data.samplers import MPerClass, NoDuplicates, PerSource, RankBatches, key_labels
from tests.ranks import spawn_ranks


def _draw(plan, epoch: int = 0, seed: int = 0) -> list[torch.Tensor]:
    return plan(epoch, torch.Generator().manual_seed(seed))


def _used_once(batches: list[torch.Tensor]) -> torch.Tensor:
    flat = torch.cat(batches)
    assert len(flat.unique()) == len(flat), "a sample was drawn twice in one epoch"
    return flat


def _skewed_keys(n: int = 203, seed: int = 0) -> list[str]:
    """Mostly unique keys, one key repeated 30 times, a few pairs."""
    g = torch.Generator().manual_seed(seed)
    keys = [f"text-{i}" for i in range(n - 40)] + ["popular"] * 30
    keys += [f"pair-{i // 2}" for i in range(10)]
    return [keys[i] for i in torch.randperm(len(keys), generator=g).tolist()]


def test_no_duplicates_batches_hold_no_repeated_key_and_use_all_they_can():
    keys = _skewed_keys()
    plan = NoDuplicates(keys, batch_size=16)
    counts = Counter(keys)
    k = len(plan)
    # one sample of a key per batch: K batches hold at most min(count, K) of each key
    assert sum(min(c, k + 1) for c in counts.values()) < (k + 1) * 16
    assert sum(min(c, k) for c in counts.values()) >= k * 16
    for epoch in range(3):
        batches = _draw(plan, epoch, seed=epoch)
        assert len(batches) == k and all(len(b) == 16 for b in batches)
        for b in batches:
            chosen = [keys[i] for i in b.tolist()]
            assert len(set(chosen)) == len(chosen), chosen
        assert len(_used_once(batches)) == len(keys) - plan.left_out()
    assert plan.left_out() == len(keys) - 16 * k
    assert not torch.equal(torch.cat(_draw(plan, 0, 0)), torch.cat(_draw(plan, 0, 1)))
    assert all(torch.equal(a, b) for a, b in zip(_draw(plan), _draw(plan), strict=True))


def test_no_duplicates_caps_a_key_with_more_samples_than_batches():
    keys = ["same"] * 20 + [str(i) for i in range(20)]
    plan = NoDuplicates(keys, batch_size=4)
    # K batches take at most K of "same": K + 20 >= 4K gives K = 6
    assert len(plan) == 6 and plan.left_out() == 40 - 24
    for b in _draw(plan):
        assert sum(keys[i] == "same" for i in b.tolist()) <= 1
    with pytest.raises(ValueError, match="no batch of 3 without a duplicate"):
        NoDuplicates(["a", "a", "b", "b"], batch_size=3)
    with pytest.raises(ValueError, match="batch_size"):
        NoDuplicates(["a"], batch_size=0)


def test_key_labels_make_duplicates_shared_positives():
    labels = key_labels(["x", "y", "x", "z", "y"])
    assert labels.tolist() == [0, 1, 0, 2, 1]


def test_m_per_class_batches_hold_whole_groups_of_m():
    labels = torch.tensor([0] * 40 + [1] * 13 + [2] * 9 + [3] * 3 + [4] * 24)
    plan = MPerClass(labels, m=4, batch_size=12)
    for epoch in range(2):
        batches = _draw(plan, epoch, seed=epoch)
        assert len(batches) == len(plan) > 0
        for b in batches:
            assert len(b) == 12
            per_class = Counter(labels[b].tolist())
            assert sorted(per_class.values()) == [4, 4, 4], per_class
            assert 3 not in per_class  # fewer than m samples: never a chunk
        assert len(_used_once(batches)) == len(labels) - plan.left_out()
    chunks = torch.bincount(labels) // 4
    k = len(plan)
    assert int(chunks.clamp(max=k + 1).sum()) < (k + 1) * 3  # one more batch cannot be filled
    assert int(chunks.clamp(max=k).sum()) >= k * 3
    with pytest.raises(ValueError, match="multiple of m"):
        MPerClass(labels, m=5, batch_size=12)
    with pytest.raises(ValueError, match="no batch of 8 classes x 4 samples"):
        MPerClass(labels, m=4, batch_size=32)
    with pytest.raises(ValueError, match="class ids"):
        MPerClass(torch.tensor([-1, 0]), m=1, batch_size=2)


@pytest.mark.parametrize("order", ["round_robin", "shuffled"])
def test_per_source_batches_stay_within_one_source(order):
    sizes = [50, 17, 33]
    plan = PerSource(sizes, batch_size=8, order=order)
    assert len(plan) == 6 + 2 + 4 and plan.left_out() == 100 - 12 * 8
    batches = _draw(plan)
    starts = torch.tensor([0, 50, 67, 100])
    sources = []
    for b in batches:
        source = int(torch.bucketize(b, starts, right=True)[0]) - 1
        assert bool(((b >= starts[source]) & (b < starts[source + 1])).all())
        sources.append(source)
    assert Counter(sources) == {0: 6, 1: 2, 2: 4}
    if order == "round_robin":
        assert sources == [0, 1, 2, 0, 1, 2, 0, 2, 0, 2, 0, 0]
    _used_once(batches)
    with pytest.raises(ValueError, match="order"):
        PerSource(sizes, 8, order="random")
    with pytest.raises(ValueError, match="no source has a full batch"):
        PerSource([3, 4], 8)


def test_rank_batches_split_every_global_batch_and_feed_a_dataloader():
    plan = NoDuplicates(_skewed_keys(), batch_size=10)
    shares = [RankBatches(plan, seed=3, rank=r, world=3) for r in range(3)]
    for share in shares:
        share.set_epoch(2)
    together = [list(parts) for parts in zip(*shares, strict=True)]
    expected = plan(2, torch.Generator().manual_seed(3 * 1_000_003 + 2))
    assert [list(chain(*parts)) for parts in together] == [b.tolist() for b in expected]
    assert all(len(s) == len(plan) for s in shares)
    data = TensorDataset(torch.arange(203))
    loader = DataLoader(data, batch_sampler=RankBatches(plan, rank=1, world=2))
    assert len(list(loader)) == len(loader) == len(plan)
    with pytest.raises(ValueError, match="outside a world"):
        RankBatches(plan, rank=2, world=2)


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        labels = torch.arange(90) % 9
        sampler = RankBatches(MPerClass(labels, m=2, batch_size=6), seed=1)
        sampler.set_epoch(4)
        mine = [i for batch in sampler for i in batch]
        queue.put((rank, (len(sampler), mine)))
    except Exception:
        queue.put((rank, traceback.format_exc()))
    finally:
        torch.distributed.destroy_process_group()


def test_gloo_ranks_use_every_drawn_sample_exactly_once():
    world = 2
    results = spawn_ranks(_worker, world)
    assert all(isinstance(r, tuple) for r in results.values()), results
    lengths = {length for length, _ in results.values()}
    assert len(lengths) == 1  # every rank agrees on the number of batches
    used = [i for _, mine in results.values() for i in mine]
    assert len(used) == len(set(used)) == lengths.pop() * 6
