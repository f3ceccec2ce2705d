"""Learning checks on real data (minutes each): run with ``make test-slow``."""

from __future__ import annotations

import pytest

from contrastor.train.config import load_config
from contrastor.train.loop import train


@pytest.mark.slow
def test_default_job_beats_raw_pixels_and_untrained_encoder(tmp_path):
    result = train(load_config(None, out=str(tmp_path / "demo"), progress=False))
    knn = {name: row["knn_accuracy"] for name, row in result.table.items()}
    assert knn["trained encoder"] > knn["raw pixels"]
    assert knn["trained encoder"] > knn["untrained encoder"]


@pytest.mark.slow
def test_supcon_on_digits_beats_raw_pixels(tmp_path):
    config = load_config(
        None,
        dataset="digits",
        loss="supcon",
        epochs=30,
        batch_size=128,
        width=16,
        out=str(tmp_path / "supcon"),
        progress=False,
    )
    table = train(config).table
    assert table["trained encoder"]["knn_accuracy"] > table["raw pixels"]["knn_accuracy"]
    assert table["trained encoder"]["linear_probe_accuracy"] > 0.97
