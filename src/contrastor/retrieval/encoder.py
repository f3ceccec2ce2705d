"""An ``encode()`` front for handing a trained text encoder to evaluation suites.

MTEB and BEIR-style evaluators call ``model.encode(sentences, batch_size=..., **kwargs)``
and expect one row per sentence as a NumPy array. :class:`Encoder` gives any function of a
list of texts to a tensor of embeddings (e.g. :class:`contrastor.models.text.TextEncoder`
or a ``CachedEncoder``-wrapped model) that interface, in evaluation mode and without
gradients, optionally truncated to a Matryoshka dimension and L2-normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class Encoder:
    """``encode(texts)`` -> ``(len(texts), d)`` float32 array from ``embed`` (texts -> tensor).

    Args:
        embed: a module or function mapping a list of texts to ``(b, D)`` embeddings.
        dim: keep the leading ``dim`` features (a Matryoshka truncation); ``None``: all.
        normalize: L2-normalise each row (after truncation).
        prefixes: text put before a sentence per ``prompt_type`` / ``prompt_name`` keyword
            of the caller (``{"query": "query: ", "document": "passage: "}``), if any.

    Example:
        >>> model = Encoder(trained_text_encoder, dim=128)
        >>> mteb.MTEB(tasks=[...]).run(model)        # or: model.encode(["a", "b"])
    """

    def __init__(
        self,
        embed: Callable[[list[str]], Tensor],
        *,
        dim: int | None = None,
        normalize: bool = True,
        prefixes: dict[str, str] | None = None,
    ) -> None:
        if dim is not None and dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.embed, self.dim, self.normalize = embed, dim, normalize
        self.prefixes = dict(prefixes or {})

    def encode(
        self,
        sentences: str | Sequence[str],
        *,
        batch_size: int = 32,
        prompt_name: str | None = None,
        prompt_type: Any = None,
        convert_to_tensor: bool = False,
        **_: Any,
    ) -> np.ndarray | Tensor:
        """Embeddings of ``sentences`` (one string: one row), ``batch_size`` at a time;
        other keywords evaluators pass (``show_progress_bar``, ``task_name`` ...) are
        accepted and ignored."""
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        role = getattr(prompt_type, "value", prompt_type) or prompt_name
        prefix = self.prefixes.get(str(role), "") if role is not None else ""
        module = self.embed if isinstance(self.embed, nn.Module) else None
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        try:
            with torch.no_grad():
                parts = [
                    self._rows([prefix + t for t in texts[s : s + batch_size]])
                    for s in range(0, len(texts), batch_size)
                ]
        finally:
            if module is not None:
                module.train(was_training)
        width = self.dim or 0
        out = torch.cat(parts) if parts else torch.zeros(0, width)
        return out if convert_to_tensor else out.numpy()

    def _rows(self, texts: list[str]) -> Tensor:
        rows = self.embed(texts)
        if not isinstance(rows, Tensor) or rows.ndim != 2 or rows.shape[0] != len(texts):
            raise ValueError("embed must return a (len(texts), d) tensor")
        if self.dim is not None:
            if self.dim > rows.shape[1]:
                raise ValueError(f"dim {self.dim} exceeds the embedding width {rows.shape[1]}")
            rows = rows[:, : self.dim]
        rows = rows.float()
        if self.normalize:
            rows = torch.nn.functional.normalize(rows, dim=1)
        return rows.cpu()
