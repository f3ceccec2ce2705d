"""The shared training loop: data parallelism under a process group gives the weights of one
process, and its guards (finite loss, batches the ranks can share, resumable settings)."""

from __future__ import annotations

import math
import os
import traceback

import pytest
import torch
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.recipes.loop import fit, shuffled_batches
from contrastor.run.early_stopping import EarlyStopping
from contrastor.run.loop import Loop, RunContext, Schedule
from tests.ranks import spawn_ranks

N, D = 48, 5


def _train(context: RunContext) -> dict[str, Tensor]:
    """Two epochs of symmetric InfoNCE between two noisy views of fixed points: the noise is
    drawn for the whole batch from the loop's generator, each rank keeps its share."""
    torch.manual_seed(0)
    data = torch.randn(N, D, generator=torch.Generator().manual_seed(1))
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 4))

    def step(index: Tensor, loop: Loop) -> Tensor:
        x = data[index]
        noise = torch.randn(2, *x.shape, generator=loop.generator) * 0.1
        a, b = model(loop.share(x + noise[0])), model(loop.share(x + noise[1]))
        return CF.info_nce(a, b, temperature=0.5, symmetric=True, exchange=loop.exchange)

    fit({"model": model}, shuffled_batches(N, 16), step, epochs=2, lr=1e-2, context=context)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    try:
        weights = _train(RunContext(progress=False))  # sent as lists: the sender exits first
        queue.put((rank, {k: v.tolist() for k, v in weights.items()}))
    except Exception:
        queue.put((rank, traceback.format_exc()))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_sharing_each_batch_train_the_weights_of_one_process(world):
    """Batches of 16 split 8/8 or 6/5/5: gathered references and averaged gradients give one
    process's update (the loss of a rank is its anchors' share of the whole batch's)."""
    alone = _train(RunContext(progress=False))
    results = spawn_ranks(_worker, world)
    for rank, got in results.items():
        assert isinstance(got, dict), got
        for key, value in alone.items():
            assert torch.allclose(torch.tensor(got[key]), value, rtol=1e-4, atol=1e-6), (rank, key)


class _Task:
    def __init__(self, value: float, batches: list[Tensor]) -> None:
        self.weight = nn.Linear(1, 1)
        self.value, self.plan = value, batches

    def modules(self) -> dict[str, nn.Module]:
        return {"weight": self.weight}

    def batches(self, epoch: int, g: torch.Generator) -> list[Tensor]:
        return self.plan

    def step(self, batch: Tensor, loop: Loop) -> Tensor:
        return self.weight(torch.ones(1, 1)).sum() * self.value


def test_the_loop_stops_on_a_non_finite_loss_and_refuses_what_it_cannot_run(tmp_path):
    context = RunContext(tmp_path, progress=False)
    loop = Loop(_Task(float("nan"), [torch.arange(4)]), Schedule(1, 0.1), context)
    with pytest.raises(FloatingPointError, match="the loss became nan at step 0"):
        loop.fit()
    with pytest.raises(ValueError, match="an epoch has no batch"):
        Loop(_Task(1.0, []), Schedule(1, 0.1), context)
    frozen = _Task(1.0, [torch.arange(4)])
    frozen.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        Loop(frozen, Schedule(1, 0.1), context)
    with pytest.raises(ValueError, match="precision"):
        RunContext(precision="fp16")
    Loop(_Task(1.0, [torch.arange(4)]), Schedule(2, 0.1), context, name="run").fit()
    resumed = RunContext(tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        Loop(_Task(1.0, [torch.arange(4)]), Schedule(2, 0.5), resumed, name="run")
    done = Loop(_Task(1.0, [torch.arange(4)]), Schedule(2, 0.1), resumed, name="run")
    assert done.step == done.total_steps == 2
    assert [row["epoch"] for row in done.fit()] == [1, 2]


def test_learning_rate_scales_follow_the_longest_name_prefix():
    """Plain SGD-like check on AdamW's first step: with zero weight decay and one step a
    parameter moves by its group's learning rate times the sign of its gradient."""
    modules = nn.ModuleDict(
        {
            "body": nn.Linear(1, 1, bias=False),
            "head": nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1)),
        }
    )
    schedule = Schedule(1, 0.01, 0.0, lr_scales={"head": 10.0, "head.1.bias": 3.0})
    groups = schedule.parameter_groups(modules)
    lr = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(modules.named_parameters())
    assert lr[id(named["body.weight"])] == pytest.approx(0.01)
    assert lr[id(named["head.0.weight"])] == lr[id(named["head.1.weight"])] == pytest.approx(0.1)
    assert lr[id(named["head.1.bias"])] == pytest.approx(0.03)
    assert sum(len(g["params"]) for g in groups) == len(named)
    with pytest.raises(ValueError, match="no trainable parameters"):
        Schedule(1, 0.01, lr_scales={"heads": 2.0}).parameter_groups(modules)

    task = _Task(1.0, [torch.arange(4)])
    before = task.weight.weight.detach().clone()
    schedule = Schedule(1, 0.01, 0.0, warmup_epochs=0.0, lr_scales={"weight.weight": 5.0})
    Loop(task, schedule, RunContext(progress=False)).fit()
    assert (before - task.weight.weight).abs().item() == pytest.approx(0.05, rel=1e-4)


def _stopped_run(context: RunContext) -> tuple[nn.Linear, EarlyStopping, list[dict]]:
    """A weight pulled from 0 towards 1 while the validation score peaks at 0.4."""
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    stopper = EarlyStopping(model, lambda: -float((model.weight - 0.4).abs()), patience=2)

    def step(index: Tensor, loop: Loop) -> Tensor:
        return (model.weight - 1).square().sum() + 0 * index.sum()

    history = fit(
        {"model": model, "stopper": stopper},
        shuffled_batches(4, 4),
        step,
        epochs=40,
        lr=0.05,
        weight_decay=0.0,
        warmup_epochs=0,
        context=context,
        end_epoch=stopper.end_epoch,
    )
    return model, stopper, history


def test_early_stopping_keeps_the_best_weights_and_a_resumed_run_stays_stopped(tmp_path):
    model, stopper, history = _stopped_run(RunContext(tmp_path, progress=False))
    best = int(stopper.best_epoch)
    assert len(history) == best + 2 < 40  # two scorings without improvement, then stop
    assert model.weight.item() > 0.4 + abs(float(stopper.best))  # trained past the best
    stopper.restore()
    assert abs(model.weight.item() - 0.4) == pytest.approx(-float(stopper.best))
    again, resumed, rows = _stopped_run(RunContext(tmp_path, resume=True, progress=False))
    assert len(rows) == len(history) and int(resumed.best_epoch) == best
    resumed.restore()
    assert torch.equal(again.weight, model.weight)
    with pytest.raises(ValueError, match="every >= 1"):
        EarlyStopping(model, lambda: 0.0, every=0)


def test_the_rate_warms_up_then_decays_to_zero_or_stays_constant():
    from contrastor.run.schedule import warmup_cosine

    def rates(decay: str) -> list[float]:
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.2)
        scheduler = warmup_cosine(optimizer, 2, 6, decay)
        out = []
        for _ in range(6):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    expected = [0.1, 0.2] + [0.1 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert rates("cosine") == pytest.approx(expected)
    assert rates("none") == pytest.approx([0.1, 0.2, 0.2, 0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="decay must be one of"):
        warmup_cosine(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), 0, 4, "linear")
