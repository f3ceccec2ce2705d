"""The training loop: encoder + projection head trained with a contrastive loss.

Plain PyTorch: AdamW, warm-up + cosine schedule, optional bf16 autocast, a progress bar,
per-epoch metrics (loss, learning rate, temperature, alignment, uniformity, kNN accuracy),
atomic safetensors checkpoints and exact resume.

Exact resume: every random draw is derived from the seed and the position in the run
(the shuffle from ``(seed, epoch)``, the views from ``(seed, step)``), and the checkpoint holds
model, loss, optimizer and scheduler state. A run killed at any point and resumed from its
last checkpoint therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm.auto import tqdm

from contrastor.data import ImageDataset, ImageViews, load_image_dataset
from contrastor.eval import (
    alignment_score,
    embed_in_chunks,
    feature_accuracy,
    knn_accuracy,
    uniformity_score,
)
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.noise.detect import detection_report
from contrastor.run.checkpoint import atomic_save, load_checkpoint, save_checkpoint
from contrastor.run.metrics_log import MetricsLog
from contrastor.run.schedule import warmup_cosine
from contrastor.scale.distributed import average_gradients
from contrastor.scale.launch import init_distributed
from contrastor.train.config import TrainConfig
from contrastor.train.objectives import Batch, build_objective
from contrastor.train.report import RunResult, write_report
from contrastor.train.robust import corrupt_labels

CHECKPOINT = "checkpoint.safetensors"
_MIX = 0x9E3779B1


def derived_generator(*parts: int) -> torch.Generator:
    """A CPU generator whose seed is a fixed mix of ``parts`` (seed, epoch, step...)."""
    value = 0
    for part in parts:
        value = (value * _MIX + int(part) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def shard(n: int, rank: int, world: int) -> slice:
    """This rank's contiguous part of a batch of ``n`` (sizes differ by at most one)."""
    sizes = [n // world + (1 if r < n % world else 0) for r in range(world)]
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def build_model(config: TrainConfig, dataset: ImageDataset) -> ContrastiveModel:
    """The encoder + head, initialised from the run's seed (the same weights every time)."""
    torch.manual_seed(config.seed)
    encoder = SmallCNN(dataset.image_shape[0], config.width)
    return ContrastiveModel(encoder, encoder.feature_dim, config.embedding_dim)


def embed(
    model: nn.Module, images: Tensor, device: torch.device, batch: int = 1024, head: bool = False
) -> Tensor:
    """Encoder features (or projections with ``head=True``) of ``images``, in eval mode."""
    fn = model if head else model.features
    return embed_in_chunks(model, lambda x: fn(x.to(device)), images, batch)


class Run:
    """State of one training run (built by :func:`train`)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        launch = init_distributed(config.device)
        self.rank, self.world, self.device = launch.rank, launch.world_size, launch.device
        self.folder = Path(config.out)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data = load_image_dataset(config.dataset, config.test_fraction, config.seed)
        self.noisy = torch.zeros(len(self.data.train_labels), dtype=torch.bool)
        if config.label_noise > 0:
            corruption = corrupt_labels(
                self.data.train_labels, config.label_noise, config.label_noise_kind, config.seed
            )
            self.data.train_labels, self.noisy = corruption.labels, corruption.noisy
        self.model = build_model(config, self.data).to(self.device)
        self.loss = build_objective(
            config, self.model, len(self.data.train_labels), distributed=self.world > 1
        ).to(self.device)
        self.net: nn.Module = self.model
        if self.world > 1:
            if config.batch_size < self.world:
                raise ValueError(
                    f"batch_size {config.batch_size} is smaller than {self.world} ranks"
                )
            if self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.views = ImageViews()
        n = len(self.data.train_labels)
        self.steps_per_epoch = n // config.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"batch_size {config.batch_size} is larger than the {n} training images"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        params = list(self.model.parameters()) + list(self.loss.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        warmup = round(config.warmup_epochs * self.steps_per_epoch)
        self.scheduler = warmup_cosine(self.optimizer, warmup, self.total_steps)
        self.step = 0
        self.step_losses: list[float] = []
        history: list[dict[str, Any]] = []
        path = self.folder / CHECKPOINT
        if config.resume and path.exists():
            meta = load_checkpoint(path, self.modules, self.optimizer, self.scheduler)
            if meta["config"] != self._identity():
                raise ValueError(
                    f"{path} was written by a run with other settings; use another --out"
                )
            self.step, self.step_losses, history = (
                meta["step"],
                meta["step_losses"],
                meta["history"],
            )
        self.log = MetricsLog(self.folder, history, tensorboard=self.rank == 0)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "loss": self.loss}

    def _identity(self) -> dict[str, Any]:
        """Settings that must match for a checkpoint to be resumable."""
        data = self.config.to_dict()
        for key in ("resume", "progress", "out", "device", "checkpoint_every", "baselines"):
            data.pop(key)
        return data

    def save(self) -> None:
        meta = {
            "config": self._identity(),
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "step_losses": self.step_losses,
            "history": self.log.history,
        }
        save_checkpoint(
            self.folder / CHECKPOINT, self.modules, self.optimizer, self.scheduler, meta
        )

    def train_step(self, images: Tensor, labels: Tensor, index: Tensor) -> float:
        cfg = self.config
        g = derived_generator(cfg.seed, 1, self.step)
        # every rank draws the views of the whole batch, then keeps its own share
        part = shard(len(images), self.rank, self.world)
        views = [self.views(images, g)[part].to(self.device) for _ in range(cfg.views)]
        labels, index = labels[part], index[part]
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"
        )
        with autocast:
            z = self.net(torch.cat(views)).float()
        batch = Batch(
            list(z.chunk(cfg.views)), views, labels.to(self.device), index.to(self.device)
        )
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.loss)  # DDP averages the model; the loss's own parameters here
        self.optimizer.step()
        self.loss.after_step(self.model)
        self.scheduler.step()
        self.step += 1
        value = loss.detach()
        if self.world > 1:  # each rank holds its share: the mean over ranks is the loss
            dist.all_reduce(value)
            value = value / self.world
        return float(value)

    def epoch_metrics(self, epoch: int, seconds: float) -> dict[str, Any]:
        cfg, data = self.config, self.data
        losses = self.step_losses[-self.steps_per_epoch :]
        g = derived_generator(cfg.seed, 2)
        probe = data.test_images[:512]
        a = nn.functional.normalize(
            embed(self.model, self.views(probe, g), self.device, head=True), dim=1
        )
        b = nn.functional.normalize(
            embed(self.model, self.views(probe, g), self.device, head=True), dim=1
        )
        train_f = embed(self.model, data.train_images, self.device)
        test_f = embed(self.model, data.test_images, self.device)
        temperature = self.loss.temperature
        return {
            "epoch": epoch,
            "step": self.step,
            "loss": sum(losses) / len(losses),
            "lr": self.scheduler.get_last_lr()[0],
            "temperature": temperature.value if temperature is not None else float("nan"),
            "alignment": alignment_score(a, b),
            "uniformity": uniformity_score(torch.cat([a, b])),
            "knn_accuracy": knn_accuracy(
                train_f, data.train_labels, test_f, data.test_labels, k=cfg.knn_k
            ),
            "seconds": round(seconds, 3),
        }

    def fit(self) -> None:
        cfg, data = self.config, self.data
        self.model.train()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not cfg.progress or self.rank != 0,
            desc="train",
            unit="step",
        )
        while self.step < self.total_steps:
            epoch = self.step // self.steps_per_epoch
            started = time.perf_counter()
            order = torch.randperm(
                len(data.train_labels), generator=derived_generator(cfg.seed, 0, epoch)
            )
            first = self.step - epoch * self.steps_per_epoch
            if first == 0:
                self.loss.before_epoch(
                    epoch,
                    lambda: embed(self.model, data.train_images, self.device, head=True),
                    data.train_labels.to(self.device),
                )
            for i in range(first, self.steps_per_epoch):
                idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                self.step_losses.append(
                    self.train_step(data.train_images[idx], data.train_labels[idx], idx)
                )
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{self.step_losses[-1]:.4f}")
                if (
                    self.rank == 0
                    and cfg.checkpoint_every
                    and self.step % cfg.checkpoint_every == 0
                ):
                    self.save()
            if self.rank == 0:
                self.log.add(self.epoch_metrics(epoch + 1, time.perf_counter() - started))
                self.save()
        bar.close()
        self.log.close()

    def noise_report(self) -> dict[str, Any]:
        """Realised label-noise rate and, with a robust strategy, how well its clean
        probabilities find the flipped labels."""
        if not bool(self.noisy.any()):
            return {}
        report: dict[str, Any] = {"label_noise_rate": float(self.noisy.double().mean())}
        robust = self.loss.robust
        if robust is not None and int(robust.epoch) >= robust.warmup:
            report["detector"] = detection_report(robust.clean.cpu(), self.noisy)
        return report

    def final_table(self) -> tuple[dict[str, dict[str, float]], Tensor]:
        cfg, data = self.config, self.data
        k = cfg.knn_k
        table, features = {}, {}
        models: list[tuple[str, nn.Module]] = [("trained encoder", self.model)]
        if cfg.baselines:
            raw_train, raw_test = data.train_images.flatten(1), data.test_images.flatten(1)
            table["raw pixels"] = feature_accuracy(
                raw_train, data.train_labels, raw_test, data.test_labels, k
            )
            models.insert(0, ("untrained encoder", build_model(cfg, data).to(self.device)))
        for name, model in models:
            tr, te = (
                embed(model, data.train_images, self.device),
                embed(model, data.test_images, self.device),
            )
            table[name] = feature_accuracy(tr, data.train_labels, te, data.test_labels, k)
            features[name] = te
        return table, features["trained encoder"]


def train(config: TrainConfig) -> RunResult:
    """Train, evaluate against raw pixels and the untrained encoder, write the run folder.

    The folder gets ``checkpoint.safetensors`` (resumable), ``model.safetensors`` (final
    weights), ``metrics.csv``/``metrics.json``, ``results.json``, ``config.yaml`` and
    ``report.html`` with its PNG plots.
    """
    run = Run(config.validate())
    if run.rank == 0:
        (run.folder / "config.yaml").write_text(_yaml(config.to_dict()))
    run.fit()
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()
        if run.rank != 0:
            return RunResult(run.folder, {}, [], run.step_losses)
    atomic_save(
        {f"model.{k}": v for k, v in run.model.state_dict().items()},
        run.folder / "model.safetensors",
        {"config": config.to_dict()},
    )
    table, test_features = run.final_table()
    result = RunResult(run.folder, table, run.log.history, run.step_losses, run.noise_report())
    write_report(result, config, test_features, run.data.test_labels)
    return result


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
