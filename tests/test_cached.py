"""Cached encoder backward gives the gradients of running the chunks with autograd on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastor import losses as L
from contrastor.scale import CachedEncoder


def _encoder(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(12, 32), nn.LayerNorm(32), nn.GELU(), nn.Dropout(0.3), nn.Linear(32, 8)
    )


def _chunked_with_grad(encoder: nn.Module, x: torch.Tensor, c: int) -> torch.Tensor:
    return torch.cat([encoder(x[s : s + c]) for s in range(0, len(x), c)])


def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}


LOSSES = {
    "infonce_learnable": lambda: L.InfoNCE(0.1, symmetric=True, learnable_temperature=True),
    "supcon": lambda: L.SupCon(0.1),
    "ntxent_tiled": lambda: L.NTXent(0.1, execution="tiled", tile_size=7),
    "siglip": lambda: L.SigLIP(),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("chunk", [5, 16, 64])
def test_cached_gradients_equal_uncached(name, chunk, gen):
    xa = torch.randn(40, 12, generator=gen)
    xb = xa + 0.1 * torch.randn(40, 12, generator=gen)
    labels = torch.randint(0, 5, (40,), generator=gen)

    def loss_value(loss_fn, za, zb):
        if name == "supcon":
            return loss_fn(torch.stack([za, zb], 1), labels)
        return loss_fn(za, zb)

    reference_encoder, reference_loss = _encoder(), LOSSES[name]()
    torch.manual_seed(7)
    za = _chunked_with_grad(reference_encoder, xa, chunk)
    zb = _chunked_with_grad(reference_encoder, xb, chunk)
    expected_value = loss_value(reference_loss, za, zb)
    expected_value.backward()

    encoder, loss_fn = _encoder(), LOSSES[name]()
    loss_fn.load_state_dict(reference_loss.state_dict())
    cached = CachedEncoder(encoder, chunk_size=chunk)
    torch.manual_seed(7)
    value = loss_value(loss_fn, cached(xa), cached(xb))
    value.backward()

    assert torch.allclose(value, expected_value, rtol=1e-6)
    got, expected = _grads(encoder), _grads(reference_encoder)
    assert got.keys() == expected.keys() and got
    for key in expected:
        assert torch.allclose(got[key], expected[key], rtol=1e-5, atol=1e-7), key
    for a, b in zip(loss_fn.parameters(), reference_loss.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_cached_encoder_accepts_dict_batches_and_no_grad(gen):
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            return (self.embed(input_ids) * mask).sum(1) / mask.sum(1)

    model = Tokens()
    batch = {
        "input_ids": torch.randint(0, 50, (10, 6), generator=gen),
        "attention_mask": torch.ones(10, 6, dtype=torch.long),
    }
    cached = CachedEncoder(model, chunk_size=3)
    z = cached(batch)
    assert z.shape == (10, 8) and z.requires_grad
    L.InfoNCE()(z, z.detach() + 0.1).backward()
    assert model.embed.weight.grad is not None
    with torch.no_grad():
        assert torch.allclose(cached(batch), model(**batch))
    with pytest.raises(ValueError, match="chunk_size"):
        CachedEncoder(model, 0)
