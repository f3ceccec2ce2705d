"""Checkpoints as safetensors, written atomically.

A checkpoint holds the model and loss tensors, the optimizer's per-parameter state, and a
JSON header (epoch, step, scheduler, optimizer hyper-parameters, metrics so far) in the
safetensors metadata. The file is written beside its destination, flushed to disk and
renamed over it, so a killed process leaves either the old or the new checkpoint, whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn


def atomic_save(tensors: dict[str, Tensor], path: str | Path, metadata: dict[str, Any]) -> None:
    """Write ``tensors`` and JSON ``metadata`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        save_file(tensors, tmp, metadata={"contrastor": json.dumps(metadata)})
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["contrastor"])


def _optimizer_tensors(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{pid}.{name}"] = value
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(
    path: str | Path,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    metadata: dict[str, Any],
) -> None:
    """Save modules (by prefix), optimizer, scheduler and ``metadata`` to one file."""
    tensors = {
        f"{prefix}.{k}": v for prefix, m in modules.items() for k, v in m.state_dict().items()
    }
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors.update(opt_tensors)
    meta = dict(metadata, optimizer=opt_meta, scheduler=scheduler.state_dict())
    atomic_save(tensors, path, meta)


def load_checkpoint(
    path: str | Path,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote; return its metadata."""
    tensors = load_file(str(path))
    meta = read_metadata(path)
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict(own)
    if optimizer is not None:
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        for key, value in meta["optimizer"]["scalars"].items():
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = value
        optimizer.load_state_dict(
            {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
        )
    if scheduler is not None:
        scheduler.load_state_dict(meta["scheduler"])
    return meta
