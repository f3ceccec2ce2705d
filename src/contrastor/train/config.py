"""Training configuration: defaults, YAML loading, and validation with clear messages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contrastor.data.files import DataOptions
from contrastor.losses.registry import canonical, lookup, names
from contrastor.models.folders import model_folder
from contrastor.noise.training import STRATEGIES, UNLABEL
from contrastor.run.options import typed_options
from contrastor.scale.launch import DEVICES

DATASETS = ("mnist", "digits")
PRECISIONS = ("fp32", "bf16")
NOISE_KINDS = ("symmetric", "asymmetric")
ROBUST = tuple(STRATEGIES)
#: the feeds whose labels only say which samples are positives of each other
UNLABELLED_FEEDS = ("labelled_views", "labelled_pair")
REPORTS = ("test", "validation")


@dataclass
class TrainConfig(DataOptions):
    """Everything a training run needs; every field can be set in YAML or by a CLI flag.

    The defaults are the main job: SimCLR (NT-Xent) on the 5,000-image MNIST subset; with
    ``data`` a folder of class sub-folders of images instead, read ``image_size`` square
    (0: the first image's size) by ``workers`` decoding processes. ``model``: the built-in
    ``small_cnn`` or a local transformers image-model folder
    (:class:`~contrastor.models.vision.VisionBackbone`); ``head_layers``: the projection
    head's depth (0: none, 1: linear, 2: SimCLR's MLP) and ``head_hidden`` its hidden width
    (0: the wider of the features and ``embedding_dim``); ``predictor_hidden``: the hidden
    width of the predictor of BYOL and SimSiam (0: 256) and ``predictor_lr`` its learning
    rate as a multiple of ``lr`` (the lambda of Grill et al. 2020, appendix: a predictor kept
    near its optimum is what BYOL relies on); ``momentum``: the base momentum of
    a momentum target (BYOL, MoCo; 0: the loss's published one), ramped to 1 where the loss
    ramps it. ``report="validation"`` scores every held-out figure on a stratified
    ``test_fraction`` of the training split instead of the test split, for choosing
    settings; the test images are not read.
    """

    dataset: str = "mnist"
    image_size: int = 0
    workers: int = 2
    model: str = "small_cnn"
    head_layers: int = 2
    head_hidden: int = 0
    predictor_hidden: int = 0
    predictor_lr: float = 1.0
    momentum: float = 0.0
    loss: str = "nt_xent"
    temperature: float = 0.2
    learnable_temperature: bool = False
    epochs: int = 25
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    width: int = 16
    embedding_dim: int = 64
    views: int = 2
    test_fraction: float = 0.2
    report: str = "test"
    seed: int = 0
    precision: str = "fp32"
    device: str = "auto"
    out: str = "runs/default"
    checkpoint_every: int = 0
    knn_k: int = 20
    baselines: bool = True
    label_noise: float = 0.0
    label_noise_kind: str = "symmetric"
    robust: str = "none"
    robust_warmup: int = 2
    robust_k: int = 10
    resume: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming every invalid option; return self when valid."""
        problems = []

        def choice(name: str, options: tuple[str, ...]) -> None:
            if getattr(self, name) not in options:
                problems.append(
                    f"{name} must be one of {', '.join(options)} (got {getattr(self, name)!r})"
                )

        def positive(name: str, kind: type | tuple[type, ...], allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if not isinstance(value, kind) or isinstance(value, bool):
                what = kind.__name__ if isinstance(kind, type) else "number"
                problems.append(f"{name} must be a {what} (got {value!r})")
            elif value < 0 or (value == 0 and not allow_zero):
                bound = ">= 0" if allow_zero else "> 0"
                problems.append(f"{name} must be {bound} (got {value!r})")

        spec = None
        if isinstance(self.loss, str) and canonical(self.loss) is not None:
            spec = lookup(self.loss)
            self.loss = spec.name
        else:
            problems.append(f"loss must be one of {', '.join(names())} (got {self.loss!r})")
        if spec is not None and spec.unfit:
            problems.append(f"loss {spec.name!r} cannot train on the image task: {spec.unfit}")
        choice("dataset", DATASETS)
        try:
            self.validate_data("images")
        except (ValueError, FileNotFoundError) as error:
            problems.append(str(error))
        positive("image_size", int, allow_zero=True)
        positive("head_layers", int, allow_zero=True)
        positive("head_hidden", int, allow_zero=True)
        positive("predictor_hidden", int, allow_zero=True)
        try:
            if self.model != "small_cnn":
                model_folder(self.model)
        except FileNotFoundError:
            problems.append(
                f"model must be small_cnn or a transformers model folder with config.json "
                f"(got {self.model!r})"
            )
        positive("workers", int, allow_zero=True)
        choice("precision", PRECISIONS)
        choice("device", DEVICES)
        choice("label_noise_kind", NOISE_KINDS)
        choice("robust", ROBUST)
        choice("report", REPORTS)
        if not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1) (got {self.momentum!r})")
        elif self.momentum > 0 and spec is not None and not spec.target:
            problems.append(f"momentum sets a momentum target; loss {self.loss!r} has none")
        if not isinstance(self.predictor_lr, (int, float)) or not self.predictor_lr > 0:
            problems.append(f"predictor_lr must be > 0 (got {self.predictor_lr!r})")
        elif self.predictor_lr != 1 and spec is not None and spec.predictor != "head":
            problems.append(f"predictor_lr scales a trained predictor; loss {self.loss!r} has none")
        if not isinstance(self.label_noise, (int, float)) or not 0 <= self.label_noise < 1:
            problems.append(f"label_noise must be in [0, 1) (got {self.label_noise!r})")
        positive("robust_warmup", int, allow_zero=True)
        positive("robust_k", int)
        if self.robust != "none" and spec is not None and not spec.per_sample:
            problems.append(
                f"--robust {self.robust} weights per-sample losses; loss {self.loss!r} has none"
            )
        elif self.robust in UNLABEL and spec is not None and spec.feed not in UNLABELLED_FEEDS:
            problems.append(
                f"--robust {self.robust} withholds labels compared pairwise; loss"
                f" {self.loss!r} does not take them that way"
            )
        for name in ("epochs", "batch_size", "width", "embedding_dim", "knn_k"):
            positive(name, int)
        positive("checkpoint_every", int, allow_zero=True)
        positive("seed", int, allow_zero=True)
        for name in ("temperature", "lr"):
            positive(name, (int, float))
        for name in ("weight_decay", "warmup_epochs"):
            positive(name, (int, float), allow_zero=True)
        if not isinstance(self.views, int) or self.views < 2:
            problems.append(f"views must be an integer >= 2 (got {self.views!r})")
        elif spec is not None and self.views > (spec.views[1] or self.views):
            problems.append(
                f"loss {self.loss!r} compares exactly two views (got views={self.views})"
            )
        elif spec is not None and self.views < spec.views[0]:
            problems.append(
                f"loss {self.loss!r} needs at least {spec.views[0]} views "
                f"(got views={self.views}): add --views {spec.views[0]}"
            )
        if not isinstance(self.test_fraction, float) or not 0.0 < self.test_fraction < 1.0:
            problems.append(f"test_fraction must be a float in (0, 1) (got {self.test_fraction!r})")
        if self.batch_size == 1:
            problems.append("batch_size must be at least 2: contrastive losses need negatives")
        if self.extra:
            problems.append(f"unknown options: {', '.join(sorted(self.extra))}")
        if problems:
            raise ValueError("invalid training configuration:\n  - " + "\n  - ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("extra")
        return data


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name != "extra"]


def read_options(path: str | Path) -> dict[str, Any]:
    """The option: value mapping of a YAML file, ``-`` in names read as ``_``."""
    loaded = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a config file must be a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file (if any), then ``overrides`` (``None`` values ignored).

    Unknown keys are collected and reported by :meth:`TrainConfig.validate`.
    """
    values: dict[str, Any] = {} if path is None else read_options(path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = set(field_names())
    extra = {k: v for k, v in values.items() if k not in known}
    given = typed_options(TrainConfig, {k: v for k, v in values.items() if k in known})
    return TrainConfig(**given, extra=extra).validate()
