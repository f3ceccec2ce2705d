"""The losses users would otherwise pick, loaded for side-by-side runs when installed.

lightly's and open_clip's package ``__init__`` import torchvision, which often does not install
beside the pinned torch here; their loss modules are self-contained, so they are loaded
from their files with empty parent packages. Each loader returns ``None`` when the package
is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

Loss = Callable[[Tensor, Tensor], Tensor]


@functools.cache
def _root(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _load(name: str, path: Path) -> types.ModuleType:
    parts = name.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        sys.modules.setdefault(parent, types.ModuleType(parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pml_ntxent(temperature: float) -> Loss | None:
    try:
        from pytorch_metric_learning.losses import NTXentLoss
    except ImportError:
        return None
    loss = NTXentLoss(temperature=temperature)

    def run(a: Tensor, b: Tensor) -> Tensor:
        labels = torch.arange(a.shape[0]).repeat(2)
        return loss(torch.cat([a, b]), labels)

    return run


def pml_supcon(temperature: float, classes: int = 1000) -> Loss | None:
    """pytorch-metric-learning ``SupConLoss`` on the two views stacked, labels repeated."""
    try:
        from pytorch_metric_learning.losses import SupConLoss
    except ImportError:
        return None
    loss = SupConLoss(temperature=temperature)

    def run(a: Tensor, b: Tensor) -> Tensor:
        return loss(torch.cat([a, b]), supcon_labels(a.shape[0], classes).repeat(2))

    return run


def supcon_labels(n: int, classes: int = 1000) -> Tensor:
    """The class labels of the SupCon benchmark: sample i is of class ``i % classes``."""
    return torch.arange(n) % classes


def _lightly(name: str) -> types.ModuleType | None:
    root = _root("lightly")
    if root is None:
        return None
    _load("lightly.utils.dist", root / "utils" / "dist.py")
    _load("lightly.models.utils", root / "utils" / "dist.py")  # unused by the loss path
    _load("lightly.models.modules.memory_bank", root / "models" / "modules" / "memory_bank.py")
    return _load(f"lightly.loss.{name}", root / "loss" / f"{name}.py")


def lightly_ntxent(temperature: float) -> Loss | None:
    module = _lightly("ntx_ent_loss")
    return None if module is None else module.NTXentLoss(temperature=temperature)


def lightly_dcl(temperature: float) -> Loss | None:
    module = _lightly("dcl_loss")
    return None if module is None else module.DCLLoss(temperature=temperature)


def _open_clip() -> types.ModuleType | None:
    root = _root("open_clip")
    return None if root is None else _load("open_clip.loss", root / "loss.py")


def _inputs(loss: Loss, normalize: bool) -> Loss:
    """``loss``, fed ``F.normalize`` of its inputs when ``normalize``."""
    if not normalize:
        return loss
    return lambda a, b: loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1))


def open_clip_loss(temperature: float, normalize: bool = True) -> Loss | None:
    """open_clip ``ClipLoss``. It takes unit vectors (open_clip's models normalise their
    features before it); ``normalize`` does that here, so the peer computes the same function
    of raw embeddings as contrastor's cosine default."""
    module = _open_clip()
    if module is None:
        return None
    loss = module.ClipLoss()
    scale = torch.tensor(1.0 / temperature)
    return _inputs(lambda a, b: loss(a, b, scale), normalize)


def open_clip_siglip(temperature: float, bias: float, normalize: bool = True) -> Loss | None:
    """open_clip ``SigLipLoss``, inputs normalised first as in :func:`open_clip_loss`."""
    module = _open_clip()
    if module is None:
        return None
    loss = module.SigLipLoss()
    scale, shift = torch.tensor(1.0 / temperature), torch.tensor(bias)
    return _inputs(lambda a, b: loss(a, b, scale, shift), normalize)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "pytorch-metric-learning", "lightly", "open-clip-torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
