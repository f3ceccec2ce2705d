"""DDP gradients equal single-process gradients on the concatenated batch, for every loss,
on 2 and 4 gloo processes (CPU), with uneven batches, tiled execution and cached encoders."""

from __future__ import annotations

import os
import traceback

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from contrastor import losses as L
from contrastor.scale import CachedEncoder
from contrastor.scale.cached import encoder_device
from contrastor.scale.distributed import (
    LOCAL,
    average_gradients,
    exchange_for,
    gradient_buckets,
    pad_chunks,
    pad_rows,
    unpad_rows,
)
from contrastor.scale.launch import plan_launch
from tests.ranks import free_port

N, D = 24, 6


class Model(nn.Module):
    """Encoder + loss in one module, so DDP averages the loss's parameters too; ``forward``
    returns the loss of a batch of pairs."""

    def __init__(self, name: str, loss: nn.Module, chunk: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.name = name
        self.encoder = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 8))
        self.embed = CachedEncoder(self.encoder, chunk) if chunk else self.encoder
        self.loss = loss

    def forward(self, xa, xb, labels, index):
        za, zb = self.embed(xa), self.embed(xb)
        if self.name.startswith("global"):
            # a first step fills the moving averages, the second uses them
            self.loss(zb.detach(), za.detach(), index=index)
            return self.loss(za, zb, index=index)
        if self.name == "sbcl":
            return self.loss(torch.stack([za, zb], 1), labels, index=index)
        if self.name.startswith("supcon"):
            return self.loss(torch.stack([za, zb], 1), labels)
        if self.name in ("infonce_labels", "clip_labels", "decoupled_softmax"):
            return self.loss(za, zb, labels=labels)
        return self.loss(za, zb)


def _loss_modules(gather: bool) -> dict[str, nn.Module]:
    g = {"gather_distributed": gather}
    return {
        "infonce": L.InfoNCE(0.2, **g),
        "infonce_labels": L.InfoNCE(0.2, **g),
        "clip": L.CLIPLoss(**g),
        "clip_labels": L.CLIPLoss(**g),
        "ntxent": L.NTXent(0.2, **g),
        "ntxent_tiled": L.NTXent(0.2, execution="tiled", tile_size=5, **g),
        "supcon": L.SupCon(0.2, **g),
        "supcon_tiled": L.SupCon(0.2, execution="tiled", tile_size=7, **g),
        "dcl": L.DCL(0.2, **g),
        "dclw": L.DCLW(0.2, **g),
        "siglip": L.SigLIP(**g),
        "clip_tiled": L.CLIPLoss(execution="tiled", tile_size=4, **g),
        "align_uniform": L.AlignUniform(weight=0.7, **g),
        "debiased_hard": L.DebiasedContrastive(0.5, concentration=1.0, **g),
        "debiased_tiled": L.DebiasedContrastive(0.5, execution="tiled", tile_size=5, **g),
        "cacr": L.CACR(repulsion_temperature=2.0, **g),
        "mv_info_nce": L.MVInfoNCE(0.2, **g),
        "mv_dhel_tiled": L.MVDHEL(0.2, execution="tiled", tile_size=4, **g),
        "barlow_twins": L.BarlowTwins(off_diagonal_weight=0.01, **g),
        "vicreg": L.VICReg(**g),
        "global_sogclr": L.GlobalContrastive(N, 0.3, gamma=0.6, **g),
        "sbcl": _sbcl(g),
        "moco": L.MoCo(0.2, queue_size=64, dim=8, **g),
        "rince_tiled": L.RINCE(0.2, execution="tiled", tile_size=5, **g),
        "decoupled_softmax": L.DecoupledSoftmax(0.2, **g),
        "global_isogclr_tiled": L.GlobalContrastive(
            N, 0.3, individual_temperature=True, execution="tiled", tile_size=5, **g
        ),
        "infonce_adjusted": L.InfoNCE(0.2, margin=0.1, top_k_negatives=5, label_smoothing=0.1, **g),
        "clip_top_k_tiled": L.CLIPLoss(
            top_k_negatives=4, margin=0.05, execution="tiled", tile_size=5, **g
        ),
        "hard_contrastive": L.HardContrastive(0.2, top_k_negatives=6, **g),
        "supcon_in": L.SupCon(0.2, positive_mode="in", **g),
        "spectral": L.SpectralContrastive(**g),
        "pairwise_clip": L.PairwiseCLIP(**g),
    }


def _data():
    g = torch.Generator().manual_seed(42)
    xa = torch.randn(N, D, generator=g)
    xb = xa + 0.3 * torch.randn(N, D, generator=g)
    labels = torch.randint(0, 4, (N,), generator=g)
    return xa, xb, labels, torch.randperm(N, generator=g)


def _sbcl(g: dict) -> nn.Module:
    loss = L.SBCL(N, 0.2, class_temperature=0.4, **g)
    _, _, labels, _ = _data()
    loss.state.subclass.copy_(labels * 2 + torch.arange(N) % 2)  # two subclasses per class
    return loss


NAMES = sorted(_loss_modules(False))


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameter gradients, and the per-sample state a loss keeps (equal on every rank)."""
    out = {
        k.removeprefix("module."): p.grad.clone()
        for k, p in model.named_parameters()
        if p.grad is not None
    }
    for k, b in model.named_buffers():
        if ".state." in k:
            out[k.removeprefix("module.")] = b.clone().double()
    return out


def _reference(name: str, cached: bool) -> dict[str, torch.Tensor]:
    model = Model(name, _loss_modules(False)[name], 5 if cached else None)
    model(*_data()).backward()
    return _grads(model)


def _split(world: int) -> list[slice]:
    sizes = [N // world + (1 if r < N % world else 0) for r in range(world)]
    sizes[0] += 1  # uneven on purpose
    sizes[-1] -= 1
    starts = [sum(sizes[:r]) for r in range(world)]
    return [slice(s, s + n) for s, n in zip(starts, sizes, strict=True)]


def _worker(rank: int, world: int, port: int, mode: str, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        xa, xb, labels, index = _data()
        rows = _split(world)[rank]
        results = {}
        for name in NAMES:
            model = Model(name, _loss_modules(True)[name], 3 if mode != "ddp" else None)
            batch = (xa[rows], xb[rows], labels[rows], index[rows])
            if mode == "cached":  # contrastor's own loop averages the gradients itself
                model(*batch).backward()
                average_gradients(model)
            else:  # DDP around the model, the cached encoder inside it in "cached_ddp"
                model = nn.parallel.DistributedDataParallel(model)
                model(*batch).backward()
            # plain arrays: tensors would travel through shared memory that dies with us
            results[name] = {k: v.numpy() for k, v in _grads(model).items()}
        if rank == 0:
            queue.put(("ok", results))
    except Exception:
        queue.put(("error", traceback.format_exc()))
    finally:
        dist.destroy_process_group()


def _run(world: int, mode: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, mode, queue)) for r in range(world)]
    for p in procs:
        p.start()
    status, payload = queue.get(timeout=240)
    for p in procs:
        p.join(timeout=60)
    assert status == "ok", payload
    return payload


@pytest.mark.parametrize(
    ("world", "mode"),
    [
        (2, "ddp"),
        pytest.param(4, "ddp", marks=pytest.mark.slow),
        (2, "cached"),
        pytest.param(4, "cached", marks=pytest.mark.slow),
        (2, "cached_ddp"),
    ],
)
def test_distributed_gradients_equal_single_process(world, mode):
    """Every loss's gradients over ranks equal one process's on the whole batch: under DDP,
    with the cached encoder and averaged gradients, and with the cached encoder inside a
    DDP-wrapped model (its chunk replays reduced once)."""
    results = _run(world, mode)
    for name in NAMES:
        expected = _reference(name, mode != "ddp")
        got = {k: torch.from_numpy(v) for k, v in results[name].items()}
        assert got.keys() == expected.keys(), name
        for key in expected:
            assert torch.allclose(got[key], expected[key], rtol=1e-4, atol=1e-6), (name, key)


def test_exchange_is_local_without_a_process_group():
    assert exchange_for(True) is LOCAL and exchange_for(False) is LOCAL
    x = torch.randn(3, 2)
    assert LOCAL.gather(x) is x and LOCAL.offset(3) == 0 and LOCAL.sizes(3) == [3]


def test_launch_plan_takes_the_local_gpu_and_its_backend():
    env = {"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1"}
    gpu = plan_launch(env, "auto", cuda_devices=4)
    assert gpu.device == torch.device("cuda", 1) and gpu.backend == "nccl"
    assert (gpu.rank, gpu.world_size, gpu.local_rank) == (5, 8, 1)
    assert plan_launch(env, "cpu", cuda_devices=4).device == torch.device("cpu")
    cpu = plan_launch({}, "auto", cuda_devices=0)
    assert cpu.backend == "gloo" and cpu.world_size == 1 and cpu.device.type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        plan_launch(env, "cuda", cuda_devices=0)
    with pytest.raises(ValueError, match="LOCAL_RANK 1 but this machine has 1"):
        plan_launch(env, "cuda", cuda_devices=1)
    with pytest.raises(ValueError, match="outside a world"):
        plan_launch({"WORLD_SIZE": "2", "RANK": "2"}, "cpu", 0)


def test_gather_layout_round_trips_uneven_sizes(gen):
    sizes = [3, 1, 2]
    rows = [torch.randn(s, 4, generator=gen) for s in sizes]
    stacked = torch.cat([pad_rows(x, 3) for x in rows])
    gathered = unpad_rows(stacked, sizes)
    assert torch.equal(gathered, torch.cat(rows))
    assert torch.equal(pad_chunks(gathered, sizes), stacked)
    assert unpad_rows(stacked, [3, 3, 3]) is stacked


def test_gradient_buckets_respect_the_limit_and_dtype():
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10).double(), nn.Linear(10, 2))
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    buckets = gradient_buckets(model, limit_bytes=450)
    assert sum(len(b) for b in buckets) == 6
    for bucket in buckets:
        assert len({(g.dtype, g.device) for g in bucket}) == 1
        assert len(bucket) == 1 or sum(g.numel() * g.element_size() for g in bucket) <= 450
    assert sorted(len(b) for b in gradient_buckets(model, 1 << 20)) == [2, 4]


def test_cached_encoder_replays_the_encoder_device():
    encoder = nn.Linear(3, 2)
    assert encoder_device(encoder, torch.device("meta")) == torch.device("cpu")
    assert encoder_device(nn.Identity(), torch.device("meta")) == torch.device("meta")


def _wrapped_encoder_worker(rank: int, world: int, port: int, queue) -> None:
    """CachedEncoder around a DDP-wrapped encoder, the gathered loss on each rank's share."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        xa, xb, *_ = _data()
        rows = _split(world)[rank]
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 8))
        cached = CachedEncoder(nn.parallel.DistributedDataParallel(encoder), 2)
        loss = L.InfoNCE(0.2, symmetric=True, gather_distributed=True)
        loss(cached(xa[rows]), cached(xb[rows])).backward()
        queue.put((rank, {k: p.grad.numpy() for k, p in encoder.named_parameters()}))
    except Exception:
        queue.put((rank, traceback.format_exc()))
    finally:
        dist.destroy_process_group()


def test_cached_encoder_around_a_ddp_encoder_equals_one_process():
    from tests.ranks import spawn_ranks

    results = spawn_ranks(_wrapped_encoder_worker, 2)
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 8))
    xa, xb, *_ = _data()
    L.InfoNCE(0.2, symmetric=True)(encoder(xa), encoder(xb)).backward()
    for rank, grads in results.items():
        assert not isinstance(grads, str), grads
        for key, p in encoder.named_parameters():
            assert torch.allclose(torch.from_numpy(grads[key]), p.grad, rtol=1e-4, atol=1e-6), (
                rank,
                key,
            )
