"""Where AMCL's pair temperatures go in training: a small MLP with four heads on the
scikit-learn digits (two noisy views of each), AMCL at the authors' settings (beta 0.01,
top-100 negatives, temperatures in [1e-5, 2]); prints the median positive-pair and all-pair
temperature of head 0 and the share at the lower bound every 50 Adam steps.

    python benchmarks/amcl_temperatures.py
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

import contrastor.functional as CF
from contrastor.functional.multihead import pair_temperatures

HEADS, WIDTH, BATCH, RANGE = 4, 32, 256, (1e-5, 2.0)


def main(steps: int = 300) -> None:
    torch.manual_seed(0)
    x, _ = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16
    encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, HEADS * WIDTH))
    phi = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH))
    optimizer = torch.optim.Adam([*encoder.parameters(), *phi.parameters()], lr=1e-3)
    for step in range(steps + 1):
        batch = x[torch.randint(0, len(x), (BATCH,))]
        views = [encoder(batch + 0.3 * torch.randn_like(batch)) for _ in range(2)]
        za, zb = (v.reshape(BATCH, HEADS, WIDTH) for v in views)
        loss = CF.amcl(za, zb, phi, temperature_range=RANGE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            with torch.no_grad():
                z = nn.functional.normalize(torch.cat([za[:, 0], zb[:, 0]]), dim=1)
                tau = pair_temperatures(phi, z, z, RANGE)
                rows = torch.arange(2 * BATCH)
                positive = tau[rows, (rows + BATCH) % (2 * BATCH)]
                at_bound = (tau <= 2 * RANGE[0]).float().mean()
            print(
                f"step {step}: loss {loss.item():.3g}, median temperature positive pairs"
                f" {positive.median():.2e}, all pairs {tau.median():.2e},"
                f" share at the lower bound {at_bound:.2f}"
            )


if __name__ == "__main__":
    main()
