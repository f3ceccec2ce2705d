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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from contrastor.data import ImageDataset, ImageViews, load_image_dataset
from contrastor.eval import alignment_score, knn_accuracy, linear_probe, uniformity_score
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.train.checkpoint import atomic_save, load_checkpoint, save_checkpoint
from contrastor.train.config import TrainConfig
from contrastor.train.metrics_log import MetricsLog
from contrastor.train.objectives import build_objective
from contrastor.train.schedule import warmup_cosine

CHECKPOINT = "checkpoint.safetensors"
_MIX = 0x9E3779B1


def derived_generator(*parts: int) -> torch.Generator:
    """A CPU generator whose seed is a fixed mix of ``parts`` (seed, epoch, step...)."""
    value = 0
    for part in parts:
        value = (value * _MIX + int(part) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


def build_model(config: TrainConfig, dataset: ImageDataset) -> ContrastiveModel:
    """The encoder + head, initialised from the run's seed (the same weights every time)."""
    torch.manual_seed(config.seed)
    encoder = SmallCNN(dataset.image_shape[0], config.width)
    return ContrastiveModel(encoder, encoder.feature_dim, config.embedding_dim)


@torch.no_grad()
def embed(
    model: nn.Module, images: Tensor, device: torch.device, batch: int = 1024, head: bool = False
) -> Tensor:
    """Encoder features (or projections with ``head=True``) of ``images``, in eval mode."""
    was_training = model.training
    model.eval()
    fn = model if head else model.features
    out = torch.cat(
        [fn(images[i : i + batch].to(device)).float().cpu() for i in range(0, len(images), batch)]
    )
    model.train(was_training)
    return out


def evaluate_features(
    train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, k: int
) -> dict[str, float]:
    """kNN and linear-probe test accuracy of frozen features."""
    return {
        "knn_accuracy": knn_accuracy(train, train_y, test, test_y, k=k),
        "linear_probe_accuracy": linear_probe(train, train_y, test, test_y)["accuracy"],
    }


@dataclass
class RunResult:
    """What :func:`train` returns: the final table, the history and where files went."""

    folder: Path
    table: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    step_losses: list[float] = field(default_factory=list)


class Run:
    """State of one training run (built by :func:`train`)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.folder = Path(config.out)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(config.device)
        self.data = load_image_dataset(config.dataset, config.test_fraction, config.seed)
        self.model = build_model(config, self.data).to(self.device)
        self.loss, self.feed = build_objective(config)
        self.loss.to(self.device)
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
        self.log = MetricsLog(self.folder, history)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "loss": self.loss}

    def _identity(self) -> dict[str, Any]:
        """Settings that must match for a checkpoint to be resumable."""
        data = self.config.to_dict()
        for key in ("resume", "progress", "out", "device", "checkpoint_every"):
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

    def train_step(self, images: Tensor, labels: Tensor) -> float:
        cfg = self.config
        g = derived_generator(cfg.seed, 1, self.step)
        views = [self.views(images, g).to(self.device) for _ in range(cfg.views)]
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"
        )
        with autocast:
            z = self.model(torch.cat(views)).float()
        loss = self.feed(self.loss, list(z.chunk(cfg.views)), labels.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach())

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
        temperature = getattr(self.loss, "temperature", None)
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
            disable=not cfg.progress,
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
            for i in range(first, self.steps_per_epoch):
                idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                self.step_losses.append(
                    self.train_step(data.train_images[idx], data.train_labels[idx])
                )
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{self.step_losses[-1]:.4f}")
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save()
            self.log.add(self.epoch_metrics(epoch + 1, time.perf_counter() - started))
            self.save()
        bar.close()
        self.log.close()

    def final_table(self) -> tuple[dict[str, dict[str, float]], Tensor]:
        cfg, data = self.config, self.data
        k = cfg.knn_k
        raw_train, raw_test = data.train_images.flatten(1), data.test_images.flatten(1)
        untrained = build_model(cfg, data).to(self.device)
        table = {
            "raw pixels": evaluate_features(
                raw_train, data.train_labels, raw_test, data.test_labels, k
            )
        }
        features = {}
        for name, model in (("untrained encoder", untrained), ("trained encoder", self.model)):
            tr, te = (
                embed(model, data.train_images, self.device),
                embed(model, data.test_images, self.device),
            )
            table[name] = evaluate_features(tr, data.train_labels, te, data.test_labels, k)
            features[name] = te
        return table, features["trained encoder"]


def train(config: TrainConfig) -> RunResult:
    """Train, evaluate against raw pixels and the untrained encoder, write the run folder.

    The folder gets ``checkpoint.safetensors`` (resumable), ``model.safetensors`` (final
    weights), ``metrics.csv``/``metrics.json``, ``results.json``, ``config.yaml`` and
    ``report.html`` with its PNG plots.
    """
    from contrastor.train.report import write_report

    run = Run(config.validate())
    (run.folder / "config.yaml").write_text(_yaml(config.to_dict()))
    run.fit()
    atomic_save(
        {f"model.{k}": v for k, v in run.model.state_dict().items()},
        run.folder / "model.safetensors",
        {"config": config.to_dict()},
    )
    table, test_features = run.final_table()
    result = RunResult(run.folder, table, run.log.history, run.step_losses)
    write_report(result, config, test_features, run.data.test_labels)
    return result


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
